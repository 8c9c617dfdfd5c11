import json
import subprocess
import sys
import textwrap

import pytest

from pipeline.spool import Spool, SpoolBusy


def test_messages_come_back_in_order_and_survive_a_restart(tmp_path):
    spool = Spool(tmp_path, 10_000_000)
    for n in range(5):
        spool.append("topic", f"k{n}".encode(), f'{{"n": {n}}}'.encode())
    first = spool.read(3)
    assert [m.value for m in first.messages] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    spool.acknowledge(first.end)
    spool.close()

    reopened = Spool(tmp_path, 10_000_000)
    rest = reopened.read(100)
    assert [(m.key, m.value) for m in rest.messages] == [(b"k3", b'{"n": 3}'), (b"k4", b'{"n": 4}')]
    reopened.acknowledge(rest.end)
    assert reopened.pending_bytes() == 0 and reopened.read(10).messages == []
    reopened.close()


def test_segments_roll_over_and_are_removed_once_sent(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.spool.SEGMENT_BYTES", 200)
    spool = Spool(tmp_path, 10_000_000)
    for n in range(20):
        spool.append("t", None, f'{{"padding": "{"x" * 40}", "n": {n}}}'.encode())
    assert len(list(tmp_path.glob("*.jsonl"))) > 3
    batch = spool.read(1000)
    assert [json.loads(m.value)["n"] for m in batch.messages] == list(range(20))
    spool.acknowledge(batch.end)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    spool.close()


def test_a_spool_smaller_than_a_segment_is_not_full_of_what_kafka_has(tmp_path):
    def full():
        raise AssertionError("the spool waits although Kafka has every record")

    spool = Spool(tmp_path, 2_000)
    for n in range(100):
        spool.append("t", None, json.dumps({"n": n}).encode(), block_log=full)
        spool.acknowledge(spool.read(10).end)
    assert spool.pending_bytes() == 0
    spool.close()


def test_one_process_owns_a_spool(tmp_path):
    spool = Spool(tmp_path, 1_000_000)
    with pytest.raises(SpoolBusy, match="in use by another scrapeline process"):
        Spool(tmp_path, 1_000_000)
    spool.close()
    Spool(tmp_path, 1_000_000).close()


# -- torn lines ----------------------------------------------------------------------------------


def spooled(folder, numbers):
    spool = Spool(folder, 10_000_000)
    for n in numbers:
        spool.append("t", str(n).encode(), json.dumps({"n": n}).encode())
    spool.close()


def numbers(batch):
    return [json.loads(m.value)["n"] for m in batch.messages]


def segment(folder):
    (path,) = folder.glob("*.jsonl")
    return path


def test_a_torn_tail_is_quarantined_at_start_and_the_records_around_it_are_sent(tmp_path, caplog):
    spooled(tmp_path, range(3))
    with open(segment(tmp_path), "ab") as file:
        file.write(b'{"t": "t", "k": "3", "v": "{\\"n\\": 3')  # the process died mid-write
    spool = Spool(tmp_path, 10_000_000)
    spool.append("t", b"4", b'{"n": 4}')
    batch = spool.read(100)
    assert numbers(batch) == [0, 1, 2, 4]
    (torn,) = tmp_path.glob("*.torn")
    assert torn.read_bytes() == b'{"t": "t", "k": "3", "v": "{\\"n\\": 3'
    assert spool.torn_count == 1
    assert "a torn tail of 36 bytes in the spool (000000000000.jsonl at byte 120) moved to 000000000000.120.torn" in caplog.text
    spool.acknowledge(batch.end)
    assert spool.pending_bytes() == 0
    spool.close()


def test_a_torn_line_inside_a_segment_no_longer_blocks_the_records_after_it(tmp_path):
    spooled(tmp_path, [0])
    with open(segment(tmp_path), "ab") as file:
        # The old writer: a write torn by a full disk, the next record glued on, then a line of garbage.
        file.write(b'{"t": "t", "k": "1", "v": "{\\"n\\"')
        file.write(b'{"t": "t", "k": "2", "v": "{\\"n\\": 2}"}\n')
        file.write(b"\x00\x00\x00\n")
        file.write(b'{"t": "t", "k": "3", "v": "{\\"n\\": 3}"}\n')
    spool = Spool(tmp_path, 10_000_000)
    first = spool.read(100)
    assert numbers(first) == [0, 2, 3]
    assert spool.torn_count == 2
    assert sorted(p.read_bytes() for p in tmp_path.glob("*.torn")) == [b"\x00\x00\x00\n", b'{"t": "t", "k": "1", "v": "{\\"n\\"']
    again = spool.read(100)  # a batch read again after a failed send is not quarantined twice
    assert numbers(again) == [0, 2, 3] and spool.torn_count == 2
    spool.acknowledge(again.end)
    assert spool.pending_bytes() == 0
    spool.close()


def test_torn_lines_alone_are_stepped_over(tmp_path):
    spooled(tmp_path, [0])
    spool = Spool(tmp_path, 10_000_000)
    spool.acknowledge(spool.read(10).end)
    spool.close()
    with open(segment(tmp_path), "ab") as file:
        file.write(b"garbage\n")
    spool = Spool(tmp_path, 10_000_000)
    batch = spool.read(10)
    assert batch.messages == [] and spool.pending_bytes() > 0
    spool.acknowledge(batch.end)
    assert spool.pending_bytes() == 0
    spool.close()


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path):
    spooled(tmp_path, [0])
    with open(segment(tmp_path), "ab") as file:
        file.write(b'{"t": "t", "k": "1", "v": "{\\"n\\": 1}"}')
    spool = Spool(tmp_path, 10_000_000)
    assert numbers(spool.read(10)) == [0, 1] and spool.torn_count == 0
    spool.close()


# -- a full disk ---------------------------------------------------------------------------------

FILL = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pipeline.spool import Spool, SpoolDiskFull

    folder, limit = sys.argv[1], int(sys.argv[2])
    if limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    spool = Spool(folder, 10**9)
    n = 0
    try:
        while True:
            spool.append("t", str(n).encode(), json.dumps({"n": n, "padding": "x" * 300}).encode())
            n += 1
    except SpoolDiskFull as exc:
        print(n)
        print(exc)
    """
)


@pytest.fixture
def small_disk(tmp_path):
    """(folder, file size limit): a 64 kB tmpfs (limit 0), or where mounting is not allowed, a
    folder written under RLIMIT_FSIZE of 64 kB."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode == 0
    yield folder, 0 if mounted else 64 * 1024
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_is_a_clear_error_and_leaves_no_torn_line(small_disk):
    folder, limit = small_disk
    done = subprocess.run([sys.executable, "-c", FILL, str(folder), str(limit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written, message = done.stdout.splitlines()
    assert int(written) > 50
    assert message.startswith("the spool's disk is full (") and f"room in {folder}" in message

    spool = Spool(folder, 10**9)
    batch = spool.read(10_000)
    assert numbers(batch) == list(range(int(written)))  # every record that was accepted, none torn
    assert list(folder.glob("*.torn")) == []
    # Once Kafka has them, the records free the disk: spooling goes on.
    spool.acknowledge(batch.end)
    spool.append("t", b"next", b'{"n": -1}')
    assert numbers(spool.read(10)) == [-1]
    spool.close()
