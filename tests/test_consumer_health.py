"""A consumer that holds no partition while the records topics have some is not healthy, and `--until-idle` says so.

The topic has one partition and a first member holds it; a second member of the
group (its client id sorts after the first, so the range assignor leaves it
none) stands for a consumer stuck behind a stale member.
"""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

from dev_env import ROOT, produce, quote_envelope, scrapeline, server_env
from scrapeline.devstack import free_port
from test_consumer import Running, wait_for


def holder_and_standby_env(settings):
    """The first member running in this process, holding the only partition; the environment of a second one."""
    settings = settings.replace("kafka", partitions=1, client_id="a-holder")
    produce(settings, [quote_envelope("bitcoin", 1.0)])
    holder = Running(settings)
    wait_for(lambda: holder.consumer.assignment(), what="the first member to hold the partition")
    env = {**server_env(settings), "SCRAPELINE_KAFKA__PARTITIONS": "1", "SCRAPELINE_KAFKA__CLIENT_ID": "z-standby",
           "SCRAPELINE_KAFKA__ASSIGNMENT_GRACE_S": "3"}  # fmt: skip
    return holder, env


def health(url):
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, None


def test_healthz_is_not_ok_once_a_member_held_no_partition_for_the_grace_period(settings):
    holder, env = holder_and_standby_env(settings)
    port = free_port()
    standby = subprocess.Popen([sys.executable, "-m", "scrapeline.cli", "consume"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, **env, "SCRAPELINE_METRICS__CONSUMER_PORT": str(port)})  # fmt: skip
    try:
        wait_for(lambda: health(f"http://127.0.0.1:{port}")[0] == 503, what="the standby's /healthz to say 503")
        status, state = health(f"http://127.0.0.1:{port}")
        assert status == 503 and state["ok"] is False and state["seconds_without_partitions"] >= 3
        assert holder.consumer.assignment()
    finally:
        standby.send_signal(signal.SIGTERM)
        standby.communicate(timeout=60)
        holder.close()


def test_until_idle_without_ever_getting_a_partition_is_an_error_not_success(settings):
    holder, env = holder_and_standby_env(settings)
    try:
        done = scrapeline("consume", "--until-idle", "1", env={**env, "SCRAPELINE_METRICS__CONSUMER_PORT": "0"})
        assert holder.consumer.assignment()
    finally:
        holder.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no partition of the records topics was assigned to this consumer within [kafka] assignment_grace_s = 3 s" in done.stderr
    assert "Traceback" not in done.stderr


def test_until_idle_with_no_records_topic_at_all_is_idle_and_succeeds(settings):
    done = scrapeline("consume", "--until-idle", "1", env={**server_env(settings), "SCRAPELINE_METRICS__CONSUMER_PORT": "0"})
    assert done.returncode == 0, done.stderr
    assert "consumed 0 messages" in done.stdout
