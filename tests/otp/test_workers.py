"""``beamish run MODULE --workers N`` as real OS processes: a master, its
workers on one shared port (SO_REUSEPORT, loopback), one cluster through
the host relay, supervision (SIGKILL, crash loops) and shutdown."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

import gevent
import pytest

from beamish.cli import MAX_WORKERS_PER_CORE, _parser, parse_workers
from beamish.boot._workers import describe_exit, worker_command, worker_name
from tools.harness import ROOT, free_port
from tools.harness.client import PhxClient as Client, http_request

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

STARTED = re.compile(r"worker (\d+) started: node (\S+), os pid (\d+)")


class Master:
    """``beamish run MODULE --workers N`` with its output (the workers'
    too: they inherit it) collected line by line."""

    def __init__(self, module, *args, workers=2, name="chat@wk",
                 launcher=("-m", "beamish.cli"), env=None):
        self.proc = subprocess.Popen(
            [sys.executable, *launcher, "run", module, "--workers", str(workers),
             "--name", name, "--log-level", "INFO", *args],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, env=env)
        self.lines = []
        self.readers = [gevent.spawn(self._collect, f) for f in (self.proc.stdout,
                                                                 self.proc.stderr)]

    def _collect(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern, timeout=30.0, after=0):
        """The first line (from index ``after``) matching the regex; returns
        ``(index, match)``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.lines)):
                m = rx.search(self.lines[i])
                if m:
                    return i, m
            if time.monotonic() > deadline or (self.proc.poll() is not None
                                               and all(r.dead for r in self.readers)):
                tail = "\n".join(self.lines[-40:])
                raise AssertionError(f"no line matching {pattern!r}; last lines:\n{tail}")
            gevent.sleep(0.02)

    def workers(self):
        """``{index: (node, os pid)}`` of the latest incarnation of each worker."""
        out = {}
        for line in list(self.lines):
            m = STARTED.search(line)
            if m:
                out[int(m[1])] = (m[2], int(m[3]))
        return out

    def ready(self, count=2, after=0):
        """Wait until ``count`` workers (started after line ``after``) have
        joined the relay: then broadcasts between them are delivered."""
        for i in range(1, count + 1):
            self.wait_line(rf"host relay: node chat-w{i}@wk joined channel chat", after=after)

    def stop(self):
        worker_pids = [pid for _, pid in self.workers().values()]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in worker_pids:   # never leave a worker behind, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        gevent.joinall(self.readers, timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture
def chat():
    port = free_port()
    master = Master("apps.chat", "--port", str(port), "--presence-period", "0.1",
                    "--secret", "workers-test")
    master.port = port
    try:
        master.ready()
        yield master
    finally:
        master.stop()


def alive(pid):
    """Whether ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def token(port, name):
    resp = http_request(port, "GET", f"/api/token?name={name}")
    assert resp.status == 200, resp.body
    return json.loads(resp.body)["token"]


def user_on(port, name, node, topic="room:lobby", attempts=60):
    """A client of user ``name`` joined to ``topic`` on worker ``node``:
    connect until the kernel hands the connection to that worker."""
    tok = token(port, name)
    for _ in range(attempts):
        client = Client(port, f"vsn=2.0.0&token={tok}")
        ref = client.join(topic)
        reply = client.reply(ref)
        assert reply[4]["status"] == "ok", reply
        if reply[4]["response"]["node"] == node:
            client.topic = topic
            return client
        client.close()
    raise AssertionError(f"{attempts} connections, none on {node}")


def presence_names(client, want, timeout=10.0):
    """Follow the client's presence_state and diffs until ``want`` is online."""
    online = set()
    deadline = time.monotonic() + timeout
    while want not in online:
        left = deadline - time.monotonic()
        assert left > 0, f"{want} never appeared; online: {online}"
        f = client.expect(lambda f: isinstance(f, list) and f[3] in ("presence_state",
                                                                    "presence_diff"), left)
        if f[3] == "presence_state":
            online = set(f[4])
        else:
            online |= set(f[4]["joins"])
            online -= set(f[4]["leaves"]) - set(f[4]["joins"])
    return online


def test_workers_share_one_port_and_are_one_cluster_for_messages_and_presence(chat):
    alice = user_on(chat.port, "alice", "chat-w1@wk")
    bob = user_on(chat.port, "bob", "chat-w2@wk")
    alice.push("room:lobby", "new_msg", {"body": "hello from w1"})
    assert bob.event("new_msg", timeout=5)[4]["body"] == "hello from w1"
    bob.push("room:lobby", "new_msg", {"body": "hi from w2"})
    msgs = [alice.event("new_msg", timeout=5)[4]["body"] for _ in range(2)]
    assert msgs == ["hello from w1", "hi from w2"]
    assert "alice" in presence_names(bob, "alice")     # tracked on w1, seen on w2
    assert "bob" in presence_names(alice, "bob")       # and the other way round
    alice.close()
    bob.close()


def test_a_worker_killed_with_sigkill_is_restarted_and_its_clients_reconnect(chat):
    node, pid = chat.workers()[1]
    victim = user_on(chat.port, "carol", node)
    mark = len(chat.lines)
    os.kill(pid, signal.SIGKILL)
    victim.closed(timeout=10)
    chat.wait_line(rf"worker 1 \(node chat-w1@wk, os pid {pid}\) was killed by SIGKILL; "
                   r"restarting it", after=mark)
    i, m = chat.wait_line(r"worker 1 started: node chat-w1@wk, os pid (\d+)", after=mark)
    assert int(m[1]) != pid
    chat.ready(count=1, after=i)   # the new incarnation joined the relay
    carol = user_on(chat.port, "carol", "chat-w1@wk")   # reconnects, to the new worker
    dave = user_on(chat.port, "dave", "chat-w2@wk")
    carol.push("room:lobby", "new_msg", {"body": "back"})
    assert dave.event("new_msg", timeout=5)[4]["body"] == "back"
    assert chat.proc.poll() is None
    victim.ws.sock.close()   # closed by the kill: nothing to say goodbye to
    carol.close()
    dave.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_master_stops_every_worker_and_it_exits_0(chat, sig):
    pids = [pid for _, pid in chat.workers().values()]
    assert len(pids) == 2
    chat.proc.send_signal(sig)
    assert chat.proc.wait(20) == 0
    assert not any(alive(pid) for pid in pids)
    chat.wait_line(r"stopped 2 workers")
    chat.wait_line(r"node chat@wk stopped")
    assert not any("restarting it" in line for line in chat.lines)


def test_workers_that_keep_dying_make_the_master_give_up_with_exit_1():
    master = Master("tests.otp.sample_app", "--crash-loop", name="loop@wk")
    try:
        assert master.proc.wait(60) == 1
        gevent.joinall(master.readers, timeout=5)
        master.wait_line(r"the workers of tests\.otp\.sample_app keep dying \(more than 3 "
                         r"restarts within 10\.0 s, the master's restart intensity\); giving up")
        pids = [pid for _, pid in master.workers().values()]
        assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    finally:
        master.stop()


def test_the_master_passes_the_application_options_and_names_each_worker():
    master = Master("tests.otp.sample_app", "--greeting", "hey", workers=2, name="opts@host")
    try:
        for i in (1, 2):
            master.wait_line(rf"^init a hey opts-w{i}@host$")
    finally:
        master.stop()
    assert master.proc.returncode == 0


def test_workers_of_a_master_killed_with_sigkill_do_not_outlive_it():
    master = Master("tests.otp.sample_app", workers=2, name="orphan@wk")
    try:
        for i in (1, 2):
            master.wait_line(rf"^init a hello orphan-w{i}@wk$")
        pids = [pid for _, pid in master.workers().values()]
        master.proc.kill()
        master.proc.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "workers outlived their master"
            gevent.sleep(0.05)
    finally:
        master.stop()


def test_a_signal_while_workers_start_stops_those_started_and_starts_no_more(tmp_path):
    """Workers that start slowly (each start delayed 1 s, as on a loaded
    machine): SIGTERM after the first is served at once, not after the
    last; no worker, socket or relay directory is left behind."""
    runtime = tmp_path / "nodes"
    runtime.mkdir(mode=0o700)
    count = min(5, MAX_WORKERS_PER_CORE * (os.cpu_count() or 1))
    master = Master("tests.otp.sample_app", workers=count, name="slow@wk",
                    launcher=("-m", "tests.otp.slow_spawn", "1.0"),
                    env={**os.environ, "BEAMISH_RUNTIME_DIR": str(runtime)})
    try:
        master.wait_line(r"worker 1 started")
        master.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert master.proc.wait(20) == 0
        took = time.monotonic() - signalled
        gevent.joinall(master.readers, timeout=5)
        started = master.workers()
        assert len(started) < count, f"all {count} workers started after the signal"
        assert took < count - 1, f"the master took {took:.1f} s to stop"
        assert not any(alive(pid) for _, pid in started.values())
        master.wait_line(r"node slow@wk stopped")
        assert os.listdir(runtime) == []
    finally:
        master.stop()


def test_too_many_workers_are_refused_before_any_starts(tmp_path):
    runtime = tmp_path / "nodes"
    runtime.mkdir(mode=0o700)
    limit = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
    r = subprocess.run([sys.executable, "-m", "beamish.cli", "run", "tests.otp.sample_app",
                        "--workers", str(limit + 1)], cwd=ROOT, capture_output=True,
                       text=True, timeout=30,
                       env={**os.environ, "BEAMISH_RUNTIME_DIR": str(runtime)})
    assert r.returncode == 2
    assert f"at most {limit} ({MAX_WORKERS_PER_CORE} per core" in r.stderr
    assert "Traceback" not in r.stderr and "worker 1 started" not in r.stderr
    assert os.listdir(runtime) == []


def test_a_bad_application_option_is_refused_by_the_master_before_workers_start():
    r = subprocess.run([sys.executable, "-m", "beamish.cli", "run", "tests.otp.sample_app",
                        "--workers", "2", "--no-such-option"], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert "unrecognized arguments: --no-such-option" in r.stderr
    assert "worker 1 started" not in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------ pure helpers
def test_workers_option_defaults_to_one_process_and_auto_is_one_per_core():
    args, rest = _parser().parse_known_args(["run", "apps.chat", "--port", "4001"])
    assert args.workers == 1 and rest == ["--port", "4001"]
    args, rest = _parser().parse_known_args(["run", "apps.chat", "--workers", "auto"])
    assert args.workers == (os.cpu_count() or 1) and rest == []
    assert parse_workers("3") == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(Exception, match="positive number or 'auto'"):
            parse_workers(bad)
    limit = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
    assert parse_workers(str(limit)) == limit
    for bad in (str(limit + 1), "9999"):
        with pytest.raises(argparse.ArgumentTypeError, match=rf"too many .* at most {limit} "):
            parse_workers(bad)


def test_worker_names_and_command_lines():
    assert worker_name("chat@host", 2) == "chat-w2@host"
    assert worker_name("chat", 1) == "chat-w1"
    cmd = worker_command("apps.chat", "chat-w1@h", "INFO", False, ["--port", "4001"])
    assert cmd == [sys.executable, "-m", "beamish.cli", "run", "apps.chat", "--name",
                   "chat-w1@h", "--log-level", "INFO", "--no-control", "--port", "4001"]
    assert "--workers" not in cmd


def test_exits_are_described_as_a_reader_wants_them():
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(2) == "exited with code 2"
    assert describe_exit(-200) == "was killed by signal 200"
