"""Test-suite setup.

The suite runs gevent-patched, as ``beamish run`` does, so that libraries
doing their own I/O (redis-py) cooperate with beamish processes.  Every
test runs under beamish's leak check (what a test spawns, links, monitors,
aliases, registers or arms as a timer must be gone when it ends) and its
crash check (a test during which a process crashed fails, unless marked
``crashes_expected``).  Tests marked ``slow`` (real node OS processes,
Redis clusters, browsers, Node) are left out of ``make check``.
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

from tools.harness import RedisServer  # noqa: E402

pytest_plugins = ["beamish.testing", "pytester"]


@pytest.fixture(autouse=True)
def _no_leaks_no_crashes(beamish_no_crashes, beamish_no_leaks):
    """The crash check is set up first, so it also sees the reports of
    processes that end while the leak check waits for them."""
    yield


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a free loopback port, for the whole session."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
