"""What a process holds beyond ``process_info``'s memory: its state (a
GenServer's instance, deep and sampled) and its monitor entries."""
import gevent

from beamish import GenServer, call, monitor, receive, spawn, stop
from beamish.observer._footprint import StateSizer, deep_size, measure


class Keeper(GenServer):
    def init(self, blobs):
        self.blobs = [bytes(2**20) for _ in range(blobs)]

    def handle_call(self, request, from_):
        self.blobs.append(bytes(2**20))
        return len(self.blobs)


def row_of(client, pid):
    return next(r for r in client.processes().rows if r.pid == repr(pid))


def test_deep_size_counts_what_an_object_holds_and_samples_big_containers():
    class State:
        pass
    s = State()
    s.blobs = [bytes(1000) for _ in range(10_000)]
    s.index = {i: str(i) for i in range(10_000)}
    size, walked = measure(s)
    assert 10_000 * 1000 < size < 13_000_000
    assert walked < 500, "a big container is sampled, not walked whole"
    assert deep_size(s, max_objects=5) > 10_000_000, "past the budget, extrapolated"
    assert deep_size(State) == 0, "classes are shared, never a process's own"


def test_a_gen_servers_state_counts_in_its_memory_and_grows_with_it(endpoint):
    pid = Keeper.start(3)
    try:
        with endpoint.client() as c:
            before = row_of(c, pid)
            assert before.state_memory > 3 * 2**20 and before.memory > before.state_memory
            call(pid, "more")
            call(pid, "more")
            gevent.sleep(0.6)    # past the sizer's cache
            after = row_of(c, pid)
            assert after.memory - before.memory >= 2 * 2**20
            assert c.process(repr(pid)).row.state_memory >= 5 * 2**20
    finally:
        stop(pid)


def test_monitors_cost_memory_per_monitor(endpoint):
    def holder(n):
        for _ in range(n):
            monitor(endpoint.pid)
        receive("never")
    few, many = spawn(holder, 1), spawn(holder, 1001)
    gevent.sleep(0.05)
    try:
        with endpoint.client() as c:
            grew = row_of(c, many).memory - row_of(c, few).memory
        assert grew > 1000 * 80, grew    # a ref and its number per monitor, and the slots
    finally:
        from beamish import exit
        exit(few, "kill")
        exit(many, "kill")
        gevent.sleep(0.05)


def test_the_sizer_reuses_a_fresh_figure_and_forgets_ended_processes():
    now = [0.0]
    sizer = StateSizer(ttl=1.0, clock=lambda: now[0])

    class Proc:
        def __init__(self, pid):
            self.pid, self.state = pid, None   # no behaviour state recorded
    a, b = Proc("a"), Proc("b")
    sizer.begin()
    assert sizer.size(a) == 0 and sizer.size(b) == 0
    sizer.end()
    sizer.begin()
    sizer.size(a)
    sizer.end()
    assert set(sizer._cache) == {"a"}


def test_a_gen_servers_state_is_found_by_its_recorded_state_object_not_its_frames():
    from beamish import GenServer, call, stop
    from beamish.lowlevel import lookup
    from beamish.observer._footprint import state_of

    class Keeper(GenServer):
        def init(self):
            self.items = list(range(100))

        def handle_call(self, request, from_):
            return state_of(lookup(self.pid)) is self   # even while it runs

    pid = Keeper.start_link()
    try:
        assert isinstance(state_of(lookup(pid)), Keeper)
        assert call(pid, "self?") is True
    finally:
        stop(pid)
