"""Fixtures of the observer tests: a private runtime directory and cookie
per test, and a control endpoint in this process with a client on it."""
import os
import shutil
import socket
import tempfile

import pytest
from gevent import socket as gsocket

from beamish.observer import Client, start_control_endpoint, stop_control_endpoint
from beamish.observer._paths import read_cookie, runtime_dir


@pytest.fixture
def observer_dirs(monkeypatch):
    """BEAMISH_RUNTIME_DIR and BEAMISH_COOKIE_FILE in a fresh, short /tmp
    directory (a Unix socket path must stay under 108 bytes)."""
    base = tempfile.mkdtemp(prefix="bobs-")
    monkeypatch.setenv("BEAMISH_RUNTIME_DIR", os.path.join(base, "nodes"))
    monkeypatch.setenv("BEAMISH_COOKIE_FILE", os.path.join(base, "cookie"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def gclient(path, cookie=None):
    """A Client over a gevent socket, so this process's hub keeps serving
    the endpoint while the test waits for answers."""
    s = gsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    try:
        return Client.over(s, cookie)
    except BaseException:
        s.close()
        raise


class Endpoint:
    def __init__(self, pid, path, roots):
        self.pid, self.path, self.roots = pid, path, roots

    def client(self, cookie=None):
        return gclient(self.path, cookie)


@pytest.fixture
def endpoint(observer_dirs):
    """A control endpoint of this process; ``endpoint.roots`` is the list
    of root supervisors it reports (tests append to it)."""
    roots = []
    pid = start_control_endpoint(roots=roots, sample_interval=0.05)
    path = os.path.join(runtime_dir(), os.listdir(runtime_dir())[0])
    ep = Endpoint(pid, path, roots)
    read_cookie()
    yield ep
    stop_control_endpoint(pid)
