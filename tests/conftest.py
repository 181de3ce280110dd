"""Test-suite setup.

The suite runs gevent-patched, as ``beamish run`` does, so that libraries
doing their own I/O (redis-py) cooperate with beamish processes.  Every
test runs under beamish's leak check: what a test spawns, links, monitors,
aliases or registers must be gone when it ends.
"""
import os
import tempfile

from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

# Nodes the tests boot (beamish run) keep their control sockets and cookie
# in a private directory, never in the user's ~/.beamish.
_private = tempfile.mkdtemp(prefix="btest-")
os.environ.setdefault("BEAMISH_RUNTIME_DIR", os.path.join(_private, "nodes"))
os.environ.setdefault("BEAMISH_COOKIE_FILE", os.path.join(_private, "cookie"))

from support import RedisServer  # noqa: E402

pytest_plugins = ["beamish.testing"]


@pytest.fixture(autouse=True)
def _no_leaks(beamish_no_leaks):
    yield


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a free loopback port, for the whole session."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
