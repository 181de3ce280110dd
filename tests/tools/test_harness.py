"""tools.harness: the plumbing tests and tools share, against real processes,
a real redis-server, a real ``beamish run`` node and real frames."""
import json
import os
import resource
import subprocess
import sys
import time

import psutil
import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage

from beamish import BeamishError
from tools.harness import (ROOT, LineProc, Node, ProcError, RedisServer, free_port, json_line,
                           percentiles, table)
from tools.harness.wire import (OP_PING, OP_TEXT, FrameReader, WireError, client_frame,
                                masked_frame, server_frame)

pytestmark = pytest.mark.timeout(60)

ECHO = [sys.executable, "-u", "-c",
        "import sys\n"
        "print('hello', flush=True)\n"
        "for line in sys.stdin:\n"
        "    print('echo', line.strip(), flush=True)\n"]


# ------------------------------------------------------------------ wire
@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_a_random_key_frame_reads_back_through_a_client_frame_reader(size):
    payload = os.urandom(size)
    frame = masked_frame(OP_TEXT, payload)
    assert frame[1] & 0x80
    assert list(FrameReader(masked=True).feed(frame)) == [(OP_TEXT, payload)]


def test_a_browser_like_frame_is_read_by_a_wsproto_server():
    conn = Connection(ConnectionType.SERVER)
    conn.receive_data(masked_frame(OP_TEXT, b'["1","1","room:a","phx_join",{}]'))
    assert [e.data for e in conn.events() if isinstance(e, TextMessage)] == \
        ['["1","1","room:a","phx_join",{}]']


def test_client_fragments_and_pings_reassemble_and_unmasked_client_frames_are_refused():
    stream = (client_frame(b"ab", fin=False, key=None) + client_frame(b"", OP_PING, key=None)
              + client_frame(b"cd", 0, key=None))
    assert list(FrameReader(masked=True).feed(stream)) == [(OP_PING, b""), (OP_TEXT, b"abcd")]
    with pytest.raises(WireError):
        list(FrameReader(masked=True).feed(server_frame(b"x")))


# ---------------------------------------------------------------- report
def test_percentiles_table_and_json_line():
    assert percentiles([3.0, 1.0, 2.0], (0.5,)) == {"n": 3, "p50": 2.0, "max": 3.0}
    lines = table(("name", "value"), [["a", "1"], None, ["bbb", "22"]], right={1})
    assert lines == ["name  value", "----  -----", "a         1", "", "bbb      22"]
    line = json_line("X ", {"a": [1, 2]})
    assert line == 'X {"a":[1,2]}' and json.loads(line[2:]) == {"a": [1, 2]}


# ----------------------------------------------------------------- procs
def test_a_line_proc_answers_keeps_other_lines_and_fails_as_an_assertion():
    p = LineProc(ECHO, "echo")
    try:
        p.send("one")
        p.send("two")
        assert p.expect("echo two", 10) == "echo two"
        assert p.expect("hello", 10) == "hello"          # kept while looking for "echo two"
        assert p.ask("three", "echo ", 10) == ["one"]     # the oldest kept line first
        p.no_line("never", wait=0.1)
        with pytest.raises(ProcError) as info:
            p.expect("never", timeout=0.1)
        assert isinstance(info.value, AssertionError) and isinstance(info.value, BeamishError)
    finally:
        p.stop()
    assert p.proc.returncode is not None and not os.path.exists(p.log_path)


def test_stop_ends_what_the_child_spawned_and_stderr_is_kept_in_a_log():
    code = ("import subprocess, sys\n"
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "sys.stderr.write('said on stderr\\n'); sys.stderr.flush()\n"
            "print('grandchild', c.pid, flush=True)\n"
            "c.wait()\n")
    p = LineProc([sys.executable, "-c", code], "parent")
    grandchild = int(p.expect("grandchild ", 10).split()[1])
    try:
        assert p.stderr_text() == "said on stderr\n"
    finally:
        p.stop()
    assert eventually_gone(grandchild)


def eventually_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its reaper counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_node_boots_beamish_run_and_waits_until_it_is_ready():
    node = Node("tools.bench._chan_server", "--no-control", name="harness@127.0.0.1",
                ready="listening ")
    try:
        port = int(node.ready_line.split()[1])
        assert port > 0
        assert node.ask("stats", "stats ", 10) == ["0"]
    finally:
        node.stop()


def test_a_node_that_never_gets_ready_is_stopped_and_named():
    with pytest.raises(ProcError, match="never ready"):
        Node("tools.bench._chan_server", "--no-control", name="late@127.0.0.1",
             ready="never ready", ready_timeout=3)


def test_raise_nofile_lifts_the_soft_limit_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("hard open-file limit too low to lower the soft one")

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    out = subprocess.run(
        [sys.executable, "-c", "import resource; from tools.harness import raise_nofile; "
         "raise_nofile(); print(*resource.getrlimit(resource.RLIMIT_NOFILE))"],
        cwd=ROOT, preexec_fn=lower, capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split() == [str(hard), str(hard)]


# ----------------------------------------------------------------- redis
def test_a_redis_server_restarts_on_its_port_and_close_removes_its_directory():
    server = RedisServer(["--maxclients", "50"])
    try:
        server.start()
        assert server.command("PING").startswith(b"+PONG")
        assert b"50" in server.command("CONFIG", "GET", "maxclients")
        port = server.port
        server.stop()
        with pytest.raises(OSError):
            server.command("PING")
        server.start()
        assert server.port == port and server.command("PING").startswith(b"+PONG")
    finally:
        server.close()
    assert not os.path.exists(server.dir)


def test_free_port_is_bindable():
    import socket
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
