"""``beamish observer`` against real ``beamish run`` OS processes: --check
flags the leaky app and stays quiet on the idle one; --once --json; the
node's socket comes and goes with it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def beamish(*args, **kw):
    return subprocess.run([sys.executable, "-m", "beamish.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, **kw)


class Node:
    def __init__(self, name, *app_args, control=True):
        args = ["run", "tests.observer.leaky_app", "--name", name]
        if not control:
            args.append("--no-control")
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-m", "beamish.cli", *args, *app_args],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or line.strip() == "started":
                break
        else:
            raise AssertionError("node did not start")
        assert self.proc.poll() is None, self.proc.stderr.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=15)
        finally:
            self.proc.kill()
        return self.proc.returncode, err


@pytest.fixture
def nodes(observer_dirs):
    started = []

    def start(name, *args, **kw):
        n = Node(name, *args, **kw)
        started.append(n)
        return n
    yield start
    for n in started:
        n.stop()


def test_check_flags_the_duplicate_monitor_leak_naming_the_process(nodes):
    nodes("leaky@localhost", "--leak")
    r = beamish("observer", "leaky", "--check", "--window", "3", "--interval", "0.5")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("SUSPECT")]
    assert lines[0].startswith("SUSPECT duplicate_monitors: <0.")
    assert "(naive_subscriptions): holds" in lines[0]
    assert all("naive_subscriptions" in line for line in lines), "nothing else is flagged"


def test_check_flags_a_server_whose_state_keeps_growing(nodes):
    # The hoarder's process record never changes: only its state grows.
    nodes("hoard@localhost", "--grow")
    r = beamish("observer", "hoard", "--check", "--window", "3", "--interval", "0.5")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("SUSPECT")]
    assert len(lines) == 1 and lines[0].startswith("SUSPECT memory_growth: <0."), r.stdout
    assert "(hoarder): memory grew steadily from " in lines[0]


def test_check_stays_quiet_on_an_idle_app(nodes):
    nodes("idle@localhost")
    r = beamish("observer", "--check", "--window", "3", "--interval", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("node idle@localhost: no leak flags over ")


def test_once_json_prints_one_snapshot_for_scripts(nodes):
    nodes("json@localhost")
    r = beamish("observer", "json@localhost", "--once", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["node"]["node"] == "json@localhost" and doc["node"]["process_count"] >= 5
    names = {p["name"] for p in doc["processes"]}
    assert {"counter", "beamish.control"} <= names
    assert all("messages" not in p for p in doc["processes"])
    (root,) = doc["tree"]
    assert [(c["id"], c["restarts"]) for c in root["children"]] == [("counter", 0)]
    assert doc["suspects"] == [] and doc["list_cost"]["max_hold_ms"] < 100


def test_the_socket_goes_with_the_node_and_no_control_means_no_socket(nodes, observer_dirs):
    d = os.environ["BEAMISH_RUNTIME_DIR"]
    n = nodes("gone@localhost")
    assert os.listdir(d) == ["gone@localhost.sock"]
    code, err = n.stop()
    assert code == 0, err
    assert os.listdir(d) == []
    nodes("quiet@localhost", control=False)
    assert os.listdir(d) == []
    r = beamish("observer", "--once")
    assert r.returncode == 2 and "no local node running" in r.stderr


def test_a_wrong_cookie_gets_exit_2_and_the_node_logs_it(nodes, observer_dirs):
    n = nodes("guarded@localhost")
    bad = os.path.join(observer_dirs, "bad-cookie")
    with open(bad, "w") as f:
        f.write("wrong\n")
    os.chmod(bad, 0o600)
    r = beamish("observer", "--once", env={**os.environ, "BEAMISH_COOKIE_FILE": bad})
    assert r.returncode == 2 and "refused us: wrong cookie" in r.stderr
    code, err = n.stop()
    assert "refused a connection with a wrong cookie" in err


def test_a_reader_that_goes_away_is_not_a_lost_node(nodes):
    # `beamish observer --once | head -1`: the pipe breaks after one line;
    # the run still ends with its own exit code and says nothing about the node.
    nodes("piped@localhost", "--leak")
    for args, code in ((["--once", "--json"], 0), (["--check", "--window", "1"], 1)):
        gone, write_end = os.pipe()
        os.close(gone)      # the reader is gone before the first write
        try:
            r = subprocess.run([sys.executable, "-m", "beamish.cli", "observer", *args],
                               cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                               timeout=30)
        finally:
            os.close(write_end)
        assert r.returncode == code and "lost node" not in r.stderr, r.stderr
        assert "Broken" not in r.stderr, r.stderr
