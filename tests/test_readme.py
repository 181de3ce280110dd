"""README.rst's Python snippets run as pasted, and print what their comments say.

Every ``.. code-block:: python`` block (and any ``::`` literal block that
starts with ``# NAME.py``) is extracted.  A block whose first line is
``# NAME.py`` is a module: it is saved as NAME.py beside the others, so
later snippets can import it, as a reader would save it.  Every other block
is a script, run as is in a fresh interpreter in that directory.

A ``print(...)`` line's expected output is its trailing comment, or the
comment line right below it; ``...`` in it stands for any text (a random
``phx_ref``).  The script's stdout must be exactly those lines.

Some snippets get more than a run: the PubSub one also runs against a real
redis-server, the Channels one is driven by a Phoenix client on a loopback
port, ``myapp.py`` runs under ``beamish run`` and stops on SIGINT, and the
paragraph on SIGINT and ``terminate`` is checked against a real node.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tools.harness import ROOT

README = os.path.join(ROOT, "README.rst")
MODULE_HEADER = re.compile(r"#\s*(\w+)\.py\s*$")

pytestmark = pytest.mark.timeout(120)


def extract_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of each Python block of an RST text, dedented."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i]
        is_python = line.strip() == ".. code-block:: python"
        is_literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        i += 1
        if not (is_python or is_literal):
            continue
        while i < len(lines) and not lines[i].strip():
            i += 1
        start = i
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
            i += 1
        code = textwrap.dedent("\n".join(lines[start:i])).strip("\n") + "\n"
        if is_python or MODULE_HEADER.match(code.splitlines()[0] if code.strip() else ""):
            blocks.append((start + 1, code))
    return blocks


def module_name(code: str):
    """``counter`` for a block starting ``# counter.py``, else None."""
    return (m := MODULE_HEADER.match(code.splitlines()[0])) and m.group(1)


def expected_output(code: str) -> list[str]:
    """The output a snippet's comments promise, one entry per ``print``."""
    lines = code.splitlines()
    want = []
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("print("):
            continue
        _, sep, comment = line.partition("  # ")
        if sep:
            want.append(comment.strip())
        elif i + 1 < len(lines) and lines[i + 1].lstrip().startswith("# "):
            want.append(lines[i + 1].lstrip()[2:].strip())
        else:
            raise AssertionError(f"README: no expected output shown for {line.strip()!r}")
    return want


def matches(want: str, got: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got) is not None


BLOCKS = extract_blocks(open(README, encoding="utf-8").read())
MODULES = {module_name(code): code for _, code in BLOCKS if module_name(code)}
SCRIPTS = [(line, code) for line, code in BLOCKS if not module_name(code)]


def block_with(needle: str) -> str:
    found = [code for _, code in SCRIPTS if needle in code]
    assert len(found) == 1, f"README: {len(found)} script blocks contain {needle!r}"
    return found[0]


@pytest.fixture
def workdir(tmp_path):
    """A directory holding the README's modules, as a reader saves them."""
    for name, code in MODULES.items():
        (tmp_path / f"{name}.py").write_text(code)
    return tmp_path


def run_script(code: str, cwd, env_extra=None, timeout=60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, **(env_extra or {}))
    path = os.path.join(cwd, "snippet.py")
    with open(path, "w") as f:
        f.write(code)
    return subprocess.run([sys.executable, path], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_prints(result: subprocess.CompletedProcess, want: list[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    got = result.stdout.splitlines()
    assert len(got) == len(want) and all(matches(w, g) for w, g in zip(want, got)), \
        f"README says {want}, the snippet printed {got}"


def test_the_readme_has_the_snippets_this_file_checks():
    assert {"counter", "myapp"} <= set(MODULES)
    assert len(SCRIPTS) >= 5
    assert any("# ('total', 42)" in code for _, code in SCRIPTS)


@pytest.mark.parametrize("line,code", SCRIPTS, ids=[f"line{line}" for line, _ in SCRIPTS])
def test_snippet_runs_as_pasted_and_prints_what_it_says(line, code, workdir):
    assert_prints(run_script(code, workdir), expected_output(code))


def test_modules_import_cleanly(workdir):
    code = "".join(f"import {name}\n" for name in MODULES)
    assert_prints(run_script(code, workdir), [])


@pytest.mark.slow
def test_pubsub_snippet_as_a_cluster_over_a_real_redis(workdir, redis_server):
    code = block_with("RedisAdapter")
    result = run_script(code, workdir, {"REDIS_URL": redis_server.url})
    assert_prints(result, expected_output(code))


CHANNEL_DRIVER = """
# --- the test's own: serve the classes above on a loopback port, and talk to them
from beamish import Supervisor
from beamish.pubsub import PubSub
from tools.harness.client import PhxClient

ports = []
Supervisor.start_link([
    PubSub.child_spec("chat"),
    Endpoint.child_spec(port=0, pubsub="chat", sockets={"/socket": UserSocket},
                        on_ready=ports.append),
])
client = PhxClient(ports[0], "vsn=2.0.0&user=alice")
ref = client.join("room:lobby")
print(client.reply(ref)[4])
ref = client.push("room:lobby", "new_msg", {"body": "hi"}, join_ref=ref)
print(client.event("new_msg")[4])
print(client.reply(ref)[4])
client.close()
"""


def test_channels_snippet_serves_a_phoenix_client(workdir):
    code = block_with("class UserSocket(Socket)") + CHANNEL_DRIVER
    assert_prints(run_script(code, workdir), [
        "{'status': 'ok', 'response': {'welcome': True}}",
        "{'body': 'hi'}",
        "{'status': 'ok', 'response': {}}",
    ])


def beamish_run(cwd, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "beamish.cli", "run", *args,
                             "--log-level", "INFO"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started_then_sigint(proc, want_log: str, timeout=30.0):
    """Wait for ``want_log`` on stderr, send SIGINT; returns (rc, stdout, stderr)."""
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if want_log in line:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=20)
                return proc.returncode, out, "".join(seen) + err
        raise AssertionError(f"node never logged {want_log!r}: {''.join(seen)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_myapp_runs_under_beamish_run_and_stops_on_sigint(workdir):
    proc = beamish_run(workdir, "myapp", "--name", f"readme{os.getpid()}@localhost",
                       "--start", "10")
    rc, out, err = started_then_sigint(proc, "started application myapp")
    assert rc == 0, err
    assert "Traceback" not in err, err
    assert "stopped" in err.splitlines()[-1], err


SHUTDOWN_APP = """
from beamish import GenServer, process_flag

class Plain(GenServer):
    def terminate(self, reason):
        print("Plain.terminate", reason, flush=True)

class Trapping(GenServer):
    def init(self):
        process_flag("trap_exit", True)

    def terminate(self, reason):
        print("Trapping.terminate", reason, flush=True)

def children(config):
    return [Plain, Trapping]
"""


@pytest.mark.slow
def test_sigint_skips_terminate_unless_the_server_traps_exits(workdir):
    """README: "a server that does not trap exits ... ends at once without its
    terminate; one that ... traps exits ... its terminate("shutdown") runs"."""
    (workdir / "shutdownapp.py").write_text(SHUTDOWN_APP)
    proc = beamish_run(workdir, "shutdownapp", "--name", f"readmesd{os.getpid()}@localhost")
    rc, out, err = started_then_sigint(proc, "started application shutdownapp")
    assert rc == 0, err
    assert out.splitlines() == ["Trapping.terminate shutdown"], out + err
