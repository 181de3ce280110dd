"""The control endpoint against hostile or unlucky conditions: a greeting
built to crash the decoder, a node out of file descriptors, a runtime
directory that is not ours to change.  Nodes are real ``beamish run`` OS
processes where a crash or a dead endpoint is the failure being tested."""
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time

import msgpack
import pytest
from gevent import socket as gsocket

from beamish.observer import AuthError, Client, EndpointError
from beamish.observer._errors import RuntimeDirError
from beamish.observer._paths import read_cookie, runtime_dir, socket_path
from beamish.observer._wire import digest, frame
from beamish.core._codec import decode, encode

from conftest import gclient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Node:
    """``beamish run tests.observer.leaky_app`` as an OS process, optionally
    with a lower limit on open files."""

    def __init__(self, name, nofile=None):
        def limit():
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beamish.cli", "run", "tests.observer.leaky_app",
             "--name", name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=limit)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or line.strip() == "started":
                break
        assert self.proc.poll() is None, self.proc.stderr.read()
        self.path = socket_path(name, runtime_dir())

    def client(self, timeout=10):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
            return Client(sock, read_cookie())
        except BaseException:
            sock.close()
            raise

    def stop(self):
        """Stop the node; its exit code and everything it logged."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        finally:
            self.proc.kill()
        return self.proc.returncode, err


@pytest.fixture
def start_node(observer_dirs):
    started = []

    def start(name, **kw):
        n = Node(name, **kw)
        started.append(n)
        return n
    yield start
    for n in started:
        n.stop()


def deep_tuples(levels):
    """``levels`` nested one-item tuples, built by hand (about 4 bytes a
    level): a few hundred used to overflow the decoder's C stack."""
    data = msgpack.packb(0)
    for _ in range(levels):
        data = msgpack.packb(msgpack.ExtType(3, b"\x91" + data))
    return data


# ------------------------------------------------------------ the handshake
def test_a_deep_greeting_from_a_stranger_is_refused_and_the_node_lives(start_node):
    node = start_node("deep@localhost")
    payload = deep_tuples(300)
    assert len(payload) < 1500
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(node.path)
        s.recv(4096)   # the challenge
        s.sendall(frame(payload))
        answer = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            answer += data
        s.close()
        assert b"wrong cookie" in answer, "refused, then closed"
    assert node.proc.poll() is None, "the node is alive"
    with node.client() as c:
        assert c.node_info().node == "deep@localhost"
    code, err = node.stop()
    assert code == 0 and "refused a connection" in err


def test_the_hello_is_raw_bytes_and_an_old_style_term_hello_is_refused(endpoint):
    s = gsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(endpoint.path)
    try:
        greeting = decode(s.recv(4096)[4:])
        assert greeting["version"] == 2
        # Protocol 1's hello, a term with the right digest: never decoded,
        # so not understood either.
        s.sendall(frame(encode({"op": "hello",
                                "digest": digest(read_cookie(), greeting["challenge"])})))
        assert b"wrong cookie" in s.recv(4096)
    finally:
        s.close()
    with pytest.raises(AuthError):
        gclient(endpoint.path, cookie="nope")
    with endpoint.client() as c:
        assert c.request("ping") == {"ok": True}


# ------------------------------------------------------------ out of descriptors
def test_the_endpoint_outlives_running_out_of_file_descriptors(start_node):
    node = start_node("fds@localhost", nofile=256)
    with node.client() as c:
        assert c.node_info().node == "fds@localhost"
    # Connect until the node can take no more: its accepts fail with EMFILE
    # (each connection waits up to 5 s for its handshake), then the listen
    # backlog fills and a connect times out.
    flood = []
    try:
        for _ in range(600):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.connect(node.path)
            except OSError:
                s.close()
                break
            flood.append(s)
        assert 150 < len(flood) < 600, len(flood)
        time.sleep(2.5)   # the sampler (1 s interval) meets the shortage too
        assert node.proc.poll() is None
    finally:
        for s in flood:
            s.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            with node.client() as c:
                info = c.node_info()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert info.node == "fds@localhost" and info.process_count > 0
    code, err = node.stop()
    assert code == 0, err
    assert 1 <= err.count("cannot accept connections") <= 3, "once an episode, not a flood"
    assert "accepting connections again" in err
    assert err.count("cannot take a sample") in (1, 2, 3) and "sampling again" in err


def test_a_killed_endpoint_is_restarted_by_its_supervisor(start_node):
    node = start_node("sup@localhost")
    with node.client() as c:
        (listener,) = [r.pid for r in c.processes().rows if r.name == "beamish.control"]
        c.kill(listener)
    deadline = time.monotonic() + 20
    while True:
        try:
            with node.client() as c:
                rows = c.processes().rows
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    (again,) = [r.pid for r in rows if r.name == "beamish.control"]
    assert again != listener
    code, err = node.stop()
    assert code == 0 and not os.path.exists(node.path), err


# ------------------------------------------------------------ the runtime directory
def test_a_shared_runtime_directory_is_refused_and_left_as_it_is(monkeypatch, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)   # as /tmp
    monkeypatch.setenv("BEAMISH_RUNTIME_DIR", str(shared))
    with pytest.raises(RuntimeDirError, match="writable by group or others") as e:
        runtime_dir(create=True)
    assert isinstance(e.value, EndpointError) and "BEAMISH_RUNTIME_DIR" in str(e.value)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777, "never chmod-ed"
    os.chmod(shared, 0o770)
    with pytest.raises(RuntimeDirError):
        runtime_dir(create=True)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o770


def test_an_existing_private_directory_is_used_unchanged(monkeypatch, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chmod(mine, 0o755)   # readable by others, writable by us only: usable
    monkeypatch.setenv("BEAMISH_RUNTIME_DIR", str(mine))
    assert runtime_dir(create=True) == str(mine)
    assert stat.S_IMODE(os.stat(mine).st_mode) == 0o755


def test_a_directory_we_create_is_0700_whatever_the_umask(monkeypatch, tmp_path):
    fresh = tmp_path / "a" / "nodes"
    monkeypatch.setenv("BEAMISH_RUNTIME_DIR", str(fresh))
    old = os.umask(0)
    try:
        assert runtime_dir(create=True) == str(fresh)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory away needs root")
def test_someone_elses_directory_is_refused_and_left_as_it_is(monkeypatch, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chmod(theirs, 0o700)
    os.chown(theirs, 65534, 65534)
    monkeypatch.setenv("BEAMISH_RUNTIME_DIR", str(theirs))
    with pytest.raises(RuntimeDirError, match="belongs to uid 65534"):
        runtime_dir(create=True)
    st = os.stat(theirs)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, 0o700)
