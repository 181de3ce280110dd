"""tools.loadgen against real servers on loopback: a few dozen clients, seconds each."""
import pytest

from tools.bench._servers import SECRET, ServerGroup
from tools.loadgen import LoadGen, find_server_pids, measure

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def lobby():
    srv = ServerGroup("beamish", 1, app="tools.bench.chat_lobby").start()
    yield srv
    srv.stop()


def test_clients_join_heartbeat_and_all_get_one_broadcast(lobby):
    with LoadGen("127.0.0.1", lobby.port, secret=SECRET, hb_interval=0.5, per_process=20) as lg:
        opened = lg.open(30, rate=300)
        assert (opened.joined, opened.errors, lg.live, len(lg.procs)) == (30, {}, 30, 2)
        assert opened.join["n"] == 30 and opened.join["max"] < 5
        b = lg.broadcast(timeout=10)
        assert (b.receivers, b.delivered, b.missing) == (30, 30, 0)
        import time
        time.sleep(1.3)
        st = lg.stats()
        assert st["live"] == 30 and st["errors"] == {} and st["hb_late"] == 0
        assert st["hb_ok"] >= 30 and st["hb_sent"] - st["hb_ok"] <= 30   # replies in flight
        assert lg.close_clients(10) == 10 and lg.live == 20
        assert lg.broadcast(timeout=10).delivered == 20


def test_server_pids_are_found_by_port_and_measured(lobby):
    pids = find_server_pids(lobby.port)
    assert lobby.root_pids()[0] in pids
    assert measure(pids).rss > 10 * 2**20


def test_a_refused_token_is_counted_not_raised(lobby):
    with LoadGen("127.0.0.1", lobby.port, secret="not-the-secret-" * 3) as lg:
        opened = lg.open(5, rate=100)
        assert opened.joined == 0 and opened.errors == {"http_403": 5}


def test_presence_storm_on_the_real_chat_reaches_every_watcher():
    srv = ServerGroup("beamish", 1, app="apps.chat").start()
    try:
        with LoadGen("127.0.0.1", srv.port, topic="room:storm", secret=SECRET) as lg:
            res = lg.churn(conc=2, duration=1.0, watchers=3)
        assert res.cycles > 0 and res.errors == {}
        assert res.complete_joins == 1.0 and res.complete_leaves == 1.0
        assert res.join_diff["n"] == res.cycles
    finally:
        srv.stop()


def test_socketio_peer_gets_the_same_clients_and_broadcast():
    srv = ServerGroup("socketio", 1).start()
    try:
        with LoadGen("127.0.0.1", srv.port, proto="socketio", topic="lobby") as lg:
            assert lg.open(20, rate=200).joined == 20
            b = lg.broadcast(timeout=10)
            assert (b.delivered, b.missing) == (20, 0)
    finally:
        srv.stop()


def test_only_loopback_is_a_target():
    with pytest.raises(ValueError, match="loopback"):
        LoadGen("10.0.0.1", 4000)
