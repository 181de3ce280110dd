"""tools/bench/longpoll.py end to end at a small size: a real server node,
real WebSocket and LongPoll clients, numbers for both transports."""
import json
import subprocess
import sys

import pytest

from tools.harness import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SCRIPT = ("import json; from tools.bench.longpoll import _session; "
          "s = _session(%r, clients=20, tries=3, rounds=2); "
          "print(json.dumps([s.value, {k: v[0] for k, v in s.extras.items()}]))")


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
def test_the_longpoll_bench_measures_memory_round_trip_and_broadcast(transport):
    done = subprocess.run([sys.executable, "-c", SCRIPT % transport], cwd=ROOT,
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    per_client, extras = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(per_client, float)
    assert 0 < extras["round trip"] < 5_000 and 0 < extras["broadcast"] < 10_000, extras
