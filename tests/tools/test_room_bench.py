"""The room benchmark (tools/bench/room.py) at a tiny size, so it cannot
rot: real ``beamish run apps.chat`` nodes, a real redis-server, loopback
clients from tools.loadgen; and the chat's ``--presence-diff-window``."""
import argparse
import json
import subprocess
import sys

import pytest

from tools.harness import ROOT

pytestmark = pytest.mark.timeout(240)


def _presence_opts(*args):
    import apps.chat as app
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    config = parser.parse_args(["--port", "0", "--secret", "s", *args])
    config.node = "chat@test"
    spec = next(s for s in app.children(config) if s.id == "chat_presence"
                or "chat_presence" in repr(s.args) + repr(s.kwargs))
    return spec


def test_the_chat_takes_a_presence_diff_window_and_refuses_a_negative_one(capsys):
    assert "diff_window" not in repr(_presence_opts())        # Presence's own default
    assert "'diff_window': 0.0" in repr(_presence_opts("--presence-diff-window", "0"))
    assert "'diff_window': 0.1" in repr(_presence_opts("--presence-diff-window", "0.1"))
    with pytest.raises(SystemExit) as e:
        _presence_opts("--presence-diff-window", "-1")
    assert e.value.code == 2 and "0 or more" in capsys.readouterr().err


@pytest.mark.slow
def test_the_room_suite_quick_path_at_50_clients_reports_both_behaviours_and_three_nodes():
    cp = subprocess.run([sys.executable, "-m", "tools.bench.room", "--quick", "--clients", "50",
                         "--nodes-clients", "30"], cwd=ROOT, capture_output=True, text=True,
                        timeout=200)
    line = next((ln for ln in cp.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    assert line is not None, cp.stderr[-2000:]
    doc = json.loads(line[len("BENCH_JSON "):])
    one, three = doc["details"]["one_node"], doc["details"]["three_nodes"]
    for behaviour in ("coalesced", "phoenix"):
        rec = one[behaviour]
        assert "error" not in rec, rec
        assert rec["joined"] == 50 and rec["watcher_size"] == 51, rec
        assert rec["complete_s"] is not None and rec["join"]["p99"] < 10.0
    # one diff per change with --presence-diff-window 0; fewer when coalesced
    assert one["phoenix"]["watcher_diffs"] >= 50
    assert one["coalesced"]["watcher_diffs"] < one["phoenix"]["watcher_diffs"]
    assert "error" not in three, three
    assert three["joined"] == 30 and three["sizes"] == [33, 33, 33] and three["identical"]
    assert three["agree_s"] is not None
    assert cp.returncode == 0, cp.stdout[-3000:]
    keys = {(r["bench"], r["system"]) for r in doc["results"]}
    assert ("agree", "coalesced") in keys and ("join_p99", "phoenix") in keys
