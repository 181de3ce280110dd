"""Every test runs under beamish's leak check: what a test spawns, links,
monitors or registers must be gone when it ends."""
import pytest

pytest_plugins = ["beamish.testing"]


@pytest.fixture(autouse=True)
def _no_leaks(beamish_no_leaks):
    yield
