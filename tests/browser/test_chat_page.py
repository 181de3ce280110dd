"""The chat page in headless Chromium against real chat nodes (OS processes):
two users, messages, presence, tabs, leave, a server restart (with the
reconnecting banner's contrast); a desktop and a phone side by side (the
newest message stays in view, refused messages are each marked); and two
nodes over a real redis-server.  Screenshots land in artifacts/; with
BEAMISH_DOCS_SCREENSHOTS=1 the desktop and phone ones refresh README's
docs/chat.png and docs/chat-phone.png (a plain test run never changes
tracked files)."""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tools.harness import ROOT, Node, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium (make test installs it)"),
]
DRIVER = os.path.join(ROOT, "tests", "browser", "driver.py")
ARTIFACTS = os.path.join(ROOT, "artifacts")
DOCS = (os.path.join(ROOT, "docs") if os.environ.get("BEAMISH_DOCS_SCREENSHOTS")
        else ARTIFACTS)


def chat_node(port, *args, name="chat@test"):
    n = Node("apps.chat", "--port", str(port), "--presence-period", "0.1", "--secret", "t",
             *args, name=name)
    n.expect("chat running at", timeout=20)
    return n


def driver(*args):
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, DRIVER, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            bufsize=1)


def until(proc, want):
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"driver ended before {want!r}: {lines}\n{proc.stderr.read()}")
        line = line.strip()
        lines.append(line)
        if line == want:
            return lines


def go(proc):
    proc.stdin.write("go\n")
    proc.stdin.flush()


def test_two_browsers_chat_see_presence_and_survive_a_server_restart():
    os.makedirs(ARTIFACTS, exist_ok=True)
    port = free_port()
    server = chat_node(port)
    d = driver("chat", f"http://127.0.0.1:{port}/", os.path.join(ARTIFACTS, "chat.png"))
    try:
        lines = until(d, "wait restart the server")
        assert "step tabs counted" in lines and "step leave seen" in lines
        server.stop()
        go(d)
        until(d, "wait server is back")
        server = chat_node(port)
        go(d)
        until(d, "ok")
        assert d.wait(10) == 0
    finally:
        d.kill()
        server.stop()


def test_desktop_and_phone_keep_the_newest_message_in_view_and_mark_refused_messages():
    port = free_port()
    server = chat_node(port)
    os.makedirs(DOCS, exist_ok=True)
    d = driver("sizes", f"http://127.0.0.1:{port}/", os.path.join(DOCS, "chat.png"),
               os.path.join(DOCS, "chat-phone.png"))
    try:
        lines = until(d, "ok")
        assert "step phone follows the conversation" in lines and "step retry sends it" in lines
        assert d.wait(10) == 0
    finally:
        d.kill()
        server.stop()


def test_pages_on_two_nodes_over_redis_see_each_other_and_a_dead_node_leaves(redis_server):
    pa, pb = free_port(), free_port()
    cluster = ("--cluster", redis_server.url, "--down-period", "1.0")
    a = chat_node(pa, *cluster, name="chat_a@test")
    b = chat_node(pb, *cluster, name="chat_b@test")
    d = driver("cluster", f"http://127.0.0.1:{pa}/", f"http://127.0.0.1:{pb}/",
               os.path.join(ARTIFACTS, "chat-cluster.png"))
    try:
        until(d, "wait kill node b")
        b.proc.send_signal(signal.SIGKILL)
        go(d)
        until(d, "ok")
        assert d.wait(10) == 0
    finally:
        d.kill()
        a.stop()
        b.stop()
