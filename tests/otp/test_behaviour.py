"""The process-behaviour base: system messages (OTP's ``sys``), stop as a
system message, the start timeout, and that every behaviour of beamish
(GenServer, PubSub and tracker shards; channels and sockets are checked in
tests/channels) answers them."""
import pytest

from beamish import (CallExit, CallTimeout, GenServer, StartError, Supervisor, call, get_label,
                     is_alive, process_info, receive, self, spawn, stop)
from beamish.lowlevel import tags
from beamish.otp import SysStatus, get_state, get_status, replace_state
from beamish.presence import Tracker
from beamish.pubsub import PubSub

pytestmark = pytest.mark.timeout(30)


class Counter(GenServer):
    def init(self, start=0):
        self.total = start

    def handle_call(self, request, from_):
        if request == "get":
            return self.total
        return super().handle_call(request, from_)

    def handle_cast(self, n):
        self.total += n


def test_get_state_returns_the_servers_instance():
    pid = Counter.start_link(7)
    state = get_state(pid)
    assert isinstance(state, Counter) and state.total == 7 and state.pid == pid
    stop(pid)


def test_get_status_names_the_behaviour_the_class_the_parent_and_the_state():
    me = self()
    pid = Counter.start_link(3, name="sys_counter")
    st = get_status("sys_counter")
    assert isinstance(st, SysStatus)
    assert (st.pid, st.behaviour, st.status, st.parent, st.name) == \
        (pid, "GenServer", "running", me, "sys_counter")
    assert st.callback == f"{Counter.__module__}:Counter" and st.state.total == 3
    stop(pid)


def test_replace_state_runs_in_the_server_and_a_failing_function_keeps_the_old_state():
    pid = Counter.start_link(1)

    def bump(s):
        s.total = 100
        return s
    assert replace_state(pid, bump).total == 100
    assert call(pid, "get") == 100
    with pytest.raises(CallExit) as info:
        replace_state(pid, lambda s: 1 / 0)
    assert info.value.reason[0] == "callback_failed"
    with pytest.raises(CallExit):
        replace_state(pid, lambda s: "not a Counter")
    assert call(pid, "get") == 100 and is_alive(pid)
    stop(pid)


def test_system_messages_are_not_seen_by_the_callbacks():
    class Nosy(GenServer):
        def init(self):
            self.seen = []

        def handle_info(self, msg):
            self.seen.append(msg)

        def handle_call(self, request, from_):
            return list(self.seen)
    pid = Nosy.start_link()
    get_state(pid)
    get_status(pid)
    assert call(pid, "seen") == []
    stop(pid)


def test_a_process_that_is_no_behaviour_does_not_answer():
    def plain():
        receive("go")
    pid = spawn(plain)
    with pytest.raises(CallTimeout):
        get_state(pid, timeout=0.1)
    # the request is in its mailbox, untouched, as OTP's would be
    assert process_info(pid).message_queue_len == 1
    from beamish import send
    send(pid, "go")


def test_stop_is_a_system_message_answered_after_terminate():
    ended = []

    class Ends(GenServer):
        def terminate(self, reason):
            ended.append(reason)
    pid = Ends.start()
    stop(pid, "shutdown")
    assert ended == ["shutdown"] and not is_alive(pid)
    with pytest.raises(CallExit) as info:
        stop(pid)
    assert info.value.reason == "noproc"


def test_a_start_that_outlives_its_timeout_fails_and_the_server_is_killed():
    from beamish import start_server

    class Slow(GenServer):
        def init(self):
            receive("never")
    before = process_info(self()).links
    with pytest.raises(StartError) as info:
        start_server(Slow, timeout=0.1)
    assert info.value.reason == "timeout"
    assert process_info(self()).links == before


def test_the_system_tag_is_the_one_of_lowlevel_tags():
    assert tags.SYSTEM == "$system" and tags.CALL == "$gen_call"


def test_pubsub_and_tracker_shards_answer_system_messages():
    sup = Supervisor.start_link([
        PubSub.child_spec("sys_ps", pool_size=1),
        Tracker.child_spec("sys_tracker", pubsub="sys_ps", pool_size=1),
    ])
    try:
        shards = [pid for pid, st in _behaviour_states() if type(st).__name__ in
                  ("Shard", "TrackerShard")]
        kinds = {type(get_state(pid)).__name__ for pid in shards}
        assert {"Shard", "TrackerShard"} <= kinds
        for pid in shards:
            assert get_status(pid).behaviour == "GenServer"
    finally:
        stop(sup)


def _behaviour_states():
    from beamish import processes
    from beamish.lowlevel import lookup, process_state_object
    for pid in processes():
        p = lookup(pid)
        if p is not None and process_state_object(p) is not None:
            yield pid, process_state_object(p)


def test_a_server_shows_its_class_as_initial_call_and_keeps_its_label():
    class Labelled(GenServer):
        def init(self):
            from beamish import set_label
            set_label("mine")
    pid = Labelled.start_link()
    assert process_info(pid).initial_call.endswith(":" + Labelled.__qualname__ + ".init")
    assert get_label(pid) == "mine" and get_status(pid).label == "mine"
    stop(pid)
