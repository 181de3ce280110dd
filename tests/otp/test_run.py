"""``beamish run MODULE`` as a real OS process: boot, signals, failure."""
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def beamish(*args):
    return subprocess.Popen([sys.executable, "-m", "beamish.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_line(proc, want, timeout=10):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.rstrip() == want:
            return lines
    raise AssertionError(f"no line {want!r}; got {lines}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_boots_the_tree_and_a_signal_stops_it_in_order_with_exit_0(sig):
    proc = beamish("run", "tests.otp.sample_app", "--name", "demo@localhost",
                   "--greeting", "hi")
    try:
        lines = wait_line(proc, "started")
        assert lines[:2] == ["init a hi demo@localhost", "init b hi demo@localhost"]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert out.splitlines() == ["terminate b shutdown", "terminate a shutdown"]
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_a_root_supervisor_that_gives_up_ends_the_node_non_zero():
    proc = beamish("run", "tests.otp.sample_app", "--crash-loop")
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "root supervisor" in err and "stopping the node" in err
    assert "restart intensity" in err


def test_run_refuses_a_module_that_is_not_an_application():
    proc = beamish("run", "json")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode != 0 and "not an application" in err


def test_version():
    out = subprocess.run([sys.executable, "-m", "beamish.cli", "--version"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("beamish ")
