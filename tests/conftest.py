"""Test-suite setup.

The suite runs gevent-patched, as ``beamish run`` does, so that libraries
doing their own I/O (redis-py) cooperate with beamish processes.  Every
test runs under beamish's leak check: what a test spawns, links, monitors,
aliases or registers must be gone when it ends.
"""
from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

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
