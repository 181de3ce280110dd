"""The ``beamish`` command line as a user meets it (real OS processes,
loopback only): help that lists the application's own options, and
mistakes that end in one line on stderr with exit code 2, never a
traceback; and the Makefile's ``run`` installing only what the chat needs."""
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from beamish.cli import parse_log_level, parse_node_name
from tools.harness import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def beamish(*args, env=None, timeout=30):
    """Run ``beamish ARGS`` to its end; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "beamish.cli", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def refused(r, *fragments):
    """``r`` exited 2 saying each fragment, with no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    for fragment in fragments:
        assert fragment in r.stderr, r.stderr[-2000:]


@pytest.fixture
def empty_runtime(tmp_path):
    """An environment whose runtime directory holds no node."""
    runtime = tmp_path / "nodes"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "BEAMISH_RUNTIME_DIR": str(runtime)}


# ------------------------------------------------------------------ help
def test_run_module_help_lists_the_applications_own_options_and_beamishs():
    r = beamish("run", "apps.chat", "--help")
    assert r.returncode == 0, r.stderr
    for option in ("--port", "--secret", "--cluster", "--host", "--max-rooms",   # the chat's
                   "--name", "--log-level", "--workers", "--no-control"):       # beamish's
        assert re.search(rf"^\s+{option}\b", r.stdout, re.M), (option, r.stdout)
    assert "options of apps.chat:" in r.stdout and "beamish run options:" in r.stdout


def test_run_help_without_a_module_describes_run():
    r = beamish("run", "--help")
    assert r.returncode == 0 and "MODULE" in r.stdout and "--workers" in r.stdout


# ------------------------------------------------------- usage mistakes
def test_no_command_prints_usage_and_exits_2():
    r = beamish()
    refused(r, "usage: beamish", "a command is required")
    assert r.stdout == ""


def test_run_without_a_module_exits_2():
    refused(beamish("run"), "required: MODULE")


def test_an_unknown_module_is_one_line():
    r = beamish("run", "no_such_app_here")
    refused(r, "beamish run: no module named 'no_such_app_here'")
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("given", ["apps/chat.py", "apps/chat", "./apps/chat/"])
def test_a_path_given_as_module_gets_a_hint(given):
    refused(beamish("run", given), "did you mean apps.chat?")


def test_a_module_that_is_not_an_application_is_one_line():
    refused(beamish("run", "json"), "beamish run: json is not an application")


@pytest.mark.parametrize("name", ["a b", "x@", "@host", "n@h/x", "é@host"])
def test_a_bad_node_name_is_refused(name):
    refused(beamish("run", "tests.otp.sample_app", "--name", name), "bad node name")


def test_node_names_as_erlang_writes_them():
    for good in ("chat", "chat@localhost", "w-1_a@127.0.0.1", "n@my-host.example.org"):
        assert parse_node_name(good) == good


def test_an_unknown_log_level_is_refused():
    refused(beamish("run", "tests.otp.sample_app", "--log-level", "bogus"),
            "argument --log-level", "'bogus'")
    assert parse_log_level("debug") == "DEBUG"


def test_a_cluster_url_that_is_not_redis_is_a_usage_error():
    r = beamish("run", "apps.chat", "--no-control", "--cluster", "http://127.0.0.1:6379")
    refused(r, "argument --cluster", "redis://")
    assert "chat running" not in r.stdout


@pytest.mark.parametrize("args, says", [
    (["--json"], "--json goes with --once"),
    (["--once", "--check"], "--once and --check"),
    (["--check", "--window", "0"], "argument --window"),
    (["--check", "--interval", "-1"], "argument --interval"),
    (["--once", "--interval", "nan"], "argument --interval"),
])
def test_observer_option_mistakes_are_usage_errors(args, says, empty_runtime):
    refused(beamish("observer", *args, env=empty_runtime), "usage: beamish observer", says)


# ------------------------------------------------------- start failures
def test_a_port_in_use_is_named(empty_runtime):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = beamish("run", "apps.chat", "--port", str(port), "--log-level", "ERROR",
                    env=empty_runtime)
    assert r.returncode == 2, r.stderr
    assert f"beamish run: apps.chat: port {port} is in use" in r.stderr
    assert "Traceback" not in r.stderr, r.stderr   # a user's mistake, not a crash
    assert os.listdir(empty_runtime["BEAMISH_RUNTIME_DIR"]) == []


class _Node:
    """``beamish run tests.otp.sample_app --name NAME``, up until stopped."""

    def __init__(self, name, env):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beamish.cli", "run", "tests.otp.sample_app", "--name", name,
             "--log-level", "WARNING"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        for line in self.proc.stdout:
            if line.strip() == "started" or time.monotonic() > deadline:
                break
        assert self.proc.poll() is None, self.proc.stderr.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return self.proc.returncode


def test_a_second_node_with_the_same_name_is_refused(empty_runtime):
    first = _Node("dup@localhost", empty_runtime)
    try:
        r = beamish("run", "tests.otp.sample_app", "--name", "dup@localhost",
                    env=empty_runtime, timeout=30)
        refused(r, "beamish run: the name dup@localhost is in use by another node")
        assert "init a" not in r.stdout            # the application never started
        assert first.proc.poll() is None           # and the first node runs on
    finally:
        assert first.stop() == 0


def test_a_stale_socket_of_a_dead_node_does_not_hold_its_name(empty_runtime):
    path = os.path.join(empty_runtime["BEAMISH_RUNTIME_DIR"], "stale@localhost.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)   # a socket file nobody listens on, as SIGKILL leaves one
    dead.close()
    node = _Node("stale@localhost", empty_runtime)
    assert node.stop() == 0


def test_a_node_freezes_its_boot_heap_and_defers_full_collections(empty_runtime):
    proc = subprocess.Popen([sys.executable, "-m", "beamish.cli", "run", "tests.gc_probe_app",
                             "--log-level", "WARNING"], cwd=ROOT, env=empty_runtime,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert line.startswith("gc (700, 10, 100) frozen "), line
    assert int(line.split()[-1]) > 10_000, line     # modules, classes, the tree


# ---------------------------------------------------------------- make
def _make_dry_run(target, venv):
    r = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_run_installs_only_what_the_chat_needs_and_make_test_everything(tmp_path):
    venv = tmp_path / "venv"
    run = _make_dry_run("run", venv)
    assert "[test]" not in run and "install-test-deps" not in run
    assert "-e '.[redis]'" in run and "beamish run apps.chat" in run
    test = _make_dry_run("test", venv)
    assert "-e '.[test]'" in test and "install-test-deps" in test and "pytest" in test
    # A venv that `make run` set up gets the test packages from `make test`...
    venv.mkdir()
    (venv / ".installed-run").touch()
    assert "-e '.[test]'" in _make_dry_run("test", venv)
    # ...and one set up by `make test` runs the chat with nothing to install.
    (venv / ".installed-test").touch()
    assert "pip" not in _make_dry_run("run", venv)
