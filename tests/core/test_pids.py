import pickle

from beamish import Pid, Ref, make_ref, node, receive, self, send, spawn
from beamish.testing import assert_receive


def test_pid_prints_like_erlang():
    pid = spawn(lambda: None)
    assert repr(pid) == f"<0.{pid.id}.0>"
    assert assert_receive is not None


def test_pids_are_hashable_ordered_and_carry_the_node():
    a = spawn(lambda: None)
    b = spawn(lambda: None)
    assert a < b and b > a and a != b
    assert len({a, b, a}) == 2
    assert a.node == node() and a.is_local


def test_a_pid_decoded_from_bytes_equals_and_reaches_the_live_process():
    def echo(parent):
        send(parent, ("got", receive()))
    pid = spawn(echo, self())
    copy = pickle.loads(pickle.dumps(pid))
    assert copy == pid and hash(copy) == hash(pid) and copy is not pid
    send(copy, "hello")
    assert assert_receive(("got", "hello"))


def test_remote_pids_print_with_their_node_index():
    remote = Pid("other@host", 57, 1)
    assert repr(remote).endswith(".57.0>") and not repr(remote).startswith("<0.")
    assert not remote.is_local


def test_self_inside_a_process_is_its_pid():
    def report(parent):
        send(parent, self())
    pid = spawn(report, self())
    assert assert_receive(Pid) == pid


def test_refs_are_unique_and_print_as_refs():
    refs = {make_ref() for _ in range(1000)}
    assert len(refs) == 1000
    r = make_ref()
    assert isinstance(r, Ref) and repr(r).startswith("#Ref<0.")
    assert pickle.loads(pickle.dumps(r)) == r
