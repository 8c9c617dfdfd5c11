import pytest

from pipeline.spool import Spool, SpoolBusy


def test_messages_come_back_in_order_and_survive_a_restart(tmp_path):
    spool = Spool(tmp_path, 10_000_000)
    for n in range(5):
        spool.append("topic", f"k{n}".encode(), f'{{"n": {n}}}'.encode())
    first = spool.read(3)
    assert [m.value for m in first] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    spool.acknowledge(first[-1].next_position)
    spool.close()

    reopened = Spool(tmp_path, 10_000_000)
    rest = reopened.read(100)
    assert [(m.key, m.value) for m in rest] == [(b"k3", b'{"n": 3}'), (b"k4", b'{"n": 4}')]
    reopened.acknowledge(rest[-1].next_position)
    assert reopened.pending_bytes() == 0 and reopened.read(10) == []
    reopened.close()


def test_segments_roll_over_and_are_removed_once_sent(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.spool.SEGMENT_BYTES", 200)
    spool = Spool(tmp_path, 10_000_000)
    for n in range(20):
        spool.append("t", None, f'{{"padding": "{"x" * 40}", "n": {n}}}'.encode())
    assert len(list(tmp_path.glob("*.jsonl"))) > 3
    messages = spool.read(1000)
    assert [int(m.value.decode().rsplit(":", 1)[1].rstrip("}")) for m in messages] == list(range(20))
    spool.acknowledge(messages[-1].next_position)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    spool.close()


def test_one_process_owns_a_spool(tmp_path):
    spool = Spool(tmp_path, 1_000_000)
    with pytest.raises(SpoolBusy, match="in use by another scrapeline process"):
        Spool(tmp_path, 1_000_000)
    spool.close()
    Spool(tmp_path, 1_000_000).close()
