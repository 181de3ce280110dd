"""Runs the Node unit tests of tests/js (``node --test``) as part of pytest."""
import os
import shutil
import subprocess

import pytest

from tools.harness import ROOT


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_node_unit_tests_pass():
    out = subprocess.run(["node", "--test"], cwd=os.path.join(ROOT, "tests", "js"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "# fail 0" in out.stdout
