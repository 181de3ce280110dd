"""``tools.leakdemo`` and ``beamish observer --check``.

In this process: the naive subscription server really leaks a monitor per
subscribe where beamish's PubSub keeps one.  Against the demo run as a real
``beamish run`` OS process: ``--check`` flags the naive server (the
monitor-per-subscribe leak of phoenix_pubsub issue #23) within 30 seconds
of the node's start, leaves beamish's PubSub shards alone under the same
load, and stays quiet on an idle chat app."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from beamish import ANY, call, process_info, receive, self, send, spawn, stop, unlink
from beamish.pubsub import PubSub, shard_stats
from beamish.testing import assert_receive, refute_receive
from tools.leakdemo._load import NaiveBackend, PubSubBackend
from tools.leakdemo._naive import NAME as NAIVE_NAME, NaiveSubscriptions

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The issue's bound: the leak must be flagged this soon after the node starts.
FLAG_WITHIN = 30.0
CLIENTS = 20


def hopping_client(parent, backends, hops):
    """What a Hopper does, without its timer: a home topic, then ``hops``
    hops between two rooms on every backend."""
    for b in backends:
        b.subscribe("user:1")
        b.subscribe("room:0")
    for i in range(hops):
        for b in backends:
            b.unsubscribe(f"room:{i % 2}")
            b.subscribe(f"room:{(i + 1) % 2}")
    send(parent, ("hopped", self()))
    while True:
        msg = receive()
        if msg == "stop":
            return
        send(parent, ("got", msg))


def test_the_naive_server_keeps_a_monitor_per_subscribe_and_pubsub_keeps_one():
    naive = NaiveSubscriptions.start_link(name=NAIVE_NAME)
    ps = PubSub.start_link("leakdemo_test", pool_size=1)
    backends = [NaiveBackend(), PubSubBackend("leakdemo_test")]
    client = spawn(hopping_client, self(), backends, 10)
    assert_receive(("hopped", client))
    try:
        # Two first subscribes and ten hops: twelve monitors on one client
        # (eleven duplicates), where beamish's shard holds exactly one.
        info = process_info(naive)
        assert [m.target for m in info.monitors] == [client] * 12
        assert shard_stats("leakdemo_test")[0]["monitors"] == 1
        # Both still deliver correctly: the leak is invisible from outside.
        assert call(NAIVE_NAME, "stats") == {"topics": 2, "pids": 1}
        for b in backends:
            b.broadcast("room:0", ("news", b.label))
            b.broadcast("room:1", ("news", "nobody listens here"))
        assert_receive(("got", ("news", NAIVE_NAME)))
        assert_receive(("got", ("news", "leakdemo_test")))
        refute_receive(("got", ANY), timeout=0.05)
    finally:
        send(client, "stop")
        unlink(naive)
        stop(naive)
        unlink(ps)
        stop(ps)


def observer(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "beamish.cli", "observer", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


class Node:
    """A ``beamish run`` OS process, waited for until it prints a line
    starting with ``ready``.  Its stderr goes to a file, so a chatty node
    never blocks on a full pipe; a node that is not ready within
    ``START_TIMEOUT`` is killed, which ends the wait."""

    START_TIMEOUT = 20.0

    def __init__(self, base, name, module, *app_args, ready):
        self.started = time.monotonic()
        self.err_path = os.path.join(base, name + ".log")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beamish.cli", "run", module, "--name", name, *app_args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.err, text=True)
        guard = threading.Timer(self.START_TIMEOUT, self.proc.kill)
        guard.start()
        try:
            line = self.proc.stdout.readline()
            while line and not line.startswith(ready):
                line = self.proc.stdout.readline()
        finally:
            guard.cancel()
        self.ready_line = line.strip()

    def log(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc.stdout.close()
            self.err.close()
        return self.proc.returncode


@pytest.fixture
def node(observer_dirs):
    """Start nodes with ``node(name, module, *args, ready=prefix)``; every
    one is stopped (SIGTERM, then kill) after the test."""
    started = []

    def start(name, module, *args, ready):
        n = Node(observer_dirs, name, module, *args, ready=ready)
        started.append(n)
        assert n.ready_line and n.proc.poll() is None, f"{module} did not start:\n{n.log()}"
        return n
    yield start
    for n in started:
        n.stop()


def leakdemo(node, name, mode, *extra):
    return node(name, "tools.leakdemo", "--mode", mode, "--clients", str(CLIENTS), *extra,
                ready="leakdemo running")


@pytest.mark.parametrize("mode", ["naive", "both"])
def test_check_flags_the_naive_server_within_30_seconds_of_start(node, mode, capsys):
    n = leakdemo(node, f"leak_{mode}@localhost", mode)
    assert "naive_subscriptions leaks ~100 monitors/s" in n.ready_line
    attempts = []
    while True:
        r = observer(f"leak_{mode}@localhost", "--check", "--window", "3", "--interval", "0.5")
        took = time.monotonic() - n.started
        attempts.append(r.returncode)
        if r.returncode != 0 or took > FLAG_WITHIN:
            break
    with capsys.disabled():
        print(f"\n[leakdemo] mode {mode}: `--check --window 3` flagged the naive server "
              f"{took:.1f} s after `beamish run` started (attempts: {attempts})")
    assert r.returncode == 1, r.stdout + r.stderr
    assert took < FLAG_WITHIN
    lines = [line for line in r.stdout.splitlines() if line.startswith("SUSPECT")]
    assert lines[0].startswith("SUSPECT duplicate_monitors: <0.")
    assert "(naive_subscriptions): holds" in lines[0]
    # Everything flagged is the naive server: in mode "both" beamish's
    # PubSub shards took the same subscribes and are not named.
    assert all("(naive_subscriptions):" in line for line in lines), r.stdout


def shard_rows(doc):
    """The process rows of leakdemo_pubsub's shards, found through the tree."""
    (root,) = doc["tree"]
    (pubsub,) = [c for c in root["children"] if "leakdemo_pubsub" in c["id"]]
    pids = {c["pid"] for c in pubsub["children"]}
    return [p for p in doc["processes"] if p["pid"] in pids]


def test_check_leaves_beamish_pubsub_alone_and_its_shards_hold_one_monitor_per_client(node):
    n = leakdemo(node, "pubsub@localhost", "beamish", "--rate", "20")
    r = observer("pubsub@localhost", "--check", "--window", "4", "--interval", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("node pubsub@localhost: no leak flags over ")
    # The shards hold exactly one monitor per client, however often they hop.
    r = observer("pubsub@localhost", "--once", "--json")
    doc = json.loads(r.stdout)
    shards = shard_rows(doc)
    assert len(shards) == 2
    assert sum(s["monitors"] for s in shards) == CLIENTS
    assert all(s["dup_monitors"] == 0 for s in shards)
    names = {p["name"] for p in doc["processes"]}
    assert "naive_subscriptions" not in names and "hopper_1" in names
    assert n.proc.poll() is None


def test_check_stays_quiet_on_an_idle_chat_app(node):
    node("chat@localhost", "apps.chat", "--port", "0", ready="chat running at")
    r = observer("chat@localhost", "--check", "--window", "3", "--interval", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("node chat@localhost: no leak flags over ")
