"""Running the official ``phoenix`` client's scenario files under Node
(tests/js/official/*.mjs): what the websocket and LongPoll suites share.

A scenario prints ``step ...`` lines and ends with ``ok`` (exit 0) or
``fail ...`` (exit 1); see tests/js/official/harness.mjs."""
import os
import shutil
import subprocess

import pytest

from tools.harness import ROOT

JS = os.path.join(ROOT, "tests", "js")

#: For a module's ``pytestmark``: slow, bounded, and skipped without Node.
MARKS = [
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (make test installs it)"),
]


def require_node_modules():
    """Fail clearly when the pinned npm packages are not installed."""
    if not os.path.isdir(os.path.join(JS, "node_modules", "phoenix")):
        pytest.fail("tests/js/node_modules is missing: run `make test` (it runs npm ci)")


def node(script, scenario, port):
    """Start ``scenario`` of ``tests/js/official/<script>`` against ``port``."""
    return subprocess.Popen(["node", os.path.join(JS, "official", script), scenario, str(port)],
                            cwd=JS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=30):
    """Wait for the scenario; assert it ended with ``ok``; its output."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and out.rstrip().endswith("ok"), out + err
    return out
