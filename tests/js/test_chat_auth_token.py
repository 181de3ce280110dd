"""apps/chat accepts the token the official ``phoenix`` client sends with
its ``authToken`` option (Phoenix 1.8: the WebSocket subprotocol
``base64url.bearer.phx.<token>``), and refuses a forged one.  The chat runs
in this process; the client is Node with ``ws``, over loopback."""
import os
import shutil
import subprocess

import pytest

from beamish import stop
from test_chat_support import start_chat
from tools.harness import ROOT

JS = os.path.join(ROOT, "tests", "js")
SCENARIO = os.path.join(JS, "chat_auth_token.mjs")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (make test installs it)"),
]


@pytest.mark.parametrize("scenario", ["accepted", "forged"])
def test_official_client_auth_token_logs_in_to_the_chat(scenario):
    if not os.path.isdir(os.path.join(JS, "node_modules", "phoenix")):
        pytest.fail("tests/js/node_modules is missing: run `make test` (it runs npm ci)")
    sup, port = start_chat()
    try:
        out = subprocess.run(["node", SCENARIO, scenario, str(port)], cwd=JS,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.rstrip().endswith("ok"), out.stdout + out.stderr
    finally:
        stop(sup)
