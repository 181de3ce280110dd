"""The detail view's state (Erlang observer's State tab): a behaviour
process's state, fetched over the control endpoint with ``get_state``,
as truncated text; none for a process that is not a behaviour."""
from beamish import GenServer, exit, process_info, receive, spawn, stop
from beamish.observer._collect import STATE_TEXT_MAX, state_text
from beamish.observer._records import ProcessDetail
from beamish.observer._tui_screens import detail_text


class Holder(GenServer):
    def init(self, n):
        self.items = list(range(n))
        self.name = "holder"


def test_a_gen_servers_detail_shows_its_state(endpoint):
    pid = Holder.start_link(3)
    with endpoint.client() as c:
        d = c.process(repr(pid))
    assert d.state == "Holder(items=[0, 1, 2], name='holder')"
    assert "state:" in detail_text(d).plain and "items=[0, 1, 2]" in detail_text(d).plain
    stop(pid)


def test_a_big_state_is_truncated(endpoint):
    pid = Holder.start_link(100_000)
    with endpoint.client() as c:
        d = c.process(repr(pid))
    assert d.state.startswith("Holder(items=[0, 1, 2") and len(d.state) <= STATE_TEXT_MAX
    stop(pid)


def test_a_process_that_is_no_behaviour_shows_no_state_and_gets_no_message(endpoint):
    pid = spawn(receive, "never")
    with endpoint.client() as c:
        d = c.process(repr(pid))
    assert d.state is None and "state:" not in detail_text(d).plain
    assert process_info(pid).message_queue_len == 0
    exit(pid, "kill")


def test_state_travels_over_the_wire_and_old_peers_read_none():
    wire = ProcessDetail.from_wire({**_detail().to_wire(), "state": "S()"})
    assert wire.state == "S()"
    old = _detail().to_wire()
    del old["state"]
    assert ProcessDetail.from_wire(old).state is None


def test_state_text_of_an_object_with_a_repr_and_of_one_that_raises():
    assert state_text({"a": 1}) == "{'a': 1}"

    class Bad:
        def __repr__(self):
            raise ValueError("no")
    assert state_text(Bad()).startswith("<unprintable Bad")


def _detail():
    from beamish.observer._records import ProcRow
    row = ProcRow("<0.1.0>", None, "m:f", None, "waiting", 0, 0, 0, 0, 0, 0, 0, None, False)
    return ProcessDetail(row, (), (), (), (), (), 0)
