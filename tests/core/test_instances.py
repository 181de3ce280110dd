"""Named instances (beamish.lowlevel.put_instance & co): owned by a process,
gone when it ends however it ends, duplicates refused."""
import pytest

from beamish import ANY, NoProc, exit, monitor, receive, self, send, spawn
from beamish import lowlevel
from beamish.lowlevel import (InstanceTaken, instance, instance_entries, instance_table,
                              instances, put_instance, remove_instance)
from beamish.testing import assert_receive


def _start_owner(kind, name, value, parent):
    def body():
        put_instance(kind, name, value)
        send(parent, ("put", self()))
        if receive() == "crash":
            raise RuntimeError("owner crashed on purpose")
    pid = spawn(body)
    ref = monitor(pid)
    assert_receive(("put", pid), timeout=5)
    return pid, ref


@pytest.mark.crashes_expected
@pytest.mark.parametrize("how", ["kill", "shutdown", "crash", "return"])
def test_an_entry_goes_when_its_owner_ends_however_it_ends(how):
    me = lowlevel.current_process().pid
    pid, ref = _start_owner("test_kind", "a", {"v": 1}, me)
    assert instance("test_kind", "a") == {"v": 1}
    assert ("test_kind", "a", pid) in instance_entries()
    if how in ("kill", "shutdown"):
        exit(pid, how)
    else:
        send(pid, "crash" if how == "crash" else "stop")
    assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=5)
    # The runtime dropped it before the DOWN was sent.
    assert instance("test_kind", "a") is None
    assert instances("test_kind") == {}
    assert all(e[0] != "test_kind" for e in instance_entries())


def test_a_second_entry_under_a_taken_name_is_refused_and_the_name_is_free_after():
    me = lowlevel.current_process().pid
    pid, ref = _start_owner("test_kind", "dup", 1, me)
    with pytest.raises(InstanceTaken) as info:
        put_instance("test_kind", "dup", 2)
    assert info.value.owner == pid and info.value.kind == "test_kind"
    assert "dup" in str(info.value)
    assert instance("test_kind", "dup") == 1
    exit(pid, "kill")
    assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=5)
    pid2, ref2 = _start_owner("test_kind", "dup", 3, me)
    assert instance("test_kind", "dup") == 3
    exit(pid2, "kill")
    assert_receive(("DOWN", ref2, ANY, ANY, ANY), timeout=5)


def test_entries_of_one_owner_go_together_and_others_stay():
    me = lowlevel.current_process().pid
    a, ref_a = _start_owner("test_kind", "x", "A", me)
    put_instance("test_kind", "y", "A2", owner=a)
    put_instance("other_kind", "x", "A3", owner=a)
    b, ref_b = _start_owner("test_kind", "z", "B", me)
    assert instances("test_kind") == {"x": "A", "y": "A2", "z": "B"}
    exit(a, "kill")
    assert_receive(("DOWN", ref_a, ANY, ANY, ANY), timeout=5)
    assert instances("test_kind") == {"z": "B"} and instances("other_kind") == {}
    exit(b, "kill")
    assert_receive(("DOWN", ref_b, ANY, ANY, ANY), timeout=5)


def test_lookup_remove_and_snapshots():
    view = instance_table("test_kind")
    get = view.get
    put_instance("test_kind", ("tuple", 1), "v")          # owned by the caller
    try:
        assert get(("tuple", 1)) == "v" and get("missing") is None
        assert view[("tuple", 1)] == "v" and len(view) == 1 and ("tuple", 1) in view
        with pytest.raises(TypeError):
            view["other"] = 1                               # read-only
        assert instance("test_kind", "missing", default=0) == 0
        snap = instances("test_kind")
        snap["other"] = 1                                   # a copy
        assert instance("test_kind", "other") is None
        assert ("test_kind", ("tuple", 1), lowlevel.current_process().pid) in instance_entries()
    finally:
        assert remove_instance("test_kind", ("tuple", 1))
    assert not remove_instance("test_kind", ("tuple", 1))
    assert get(("tuple", 1)) is None
    put_instance("test_kind", ("tuple", 1), "again")        # free once removed
    assert remove_instance("test_kind", ("tuple", 1))
    assert not any(e[0] == "test_kind" for e in instance_entries())


def test_the_owner_must_be_a_live_process():
    pid = spawn(lambda: None)
    ref = monitor(pid)
    assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=5)
    with pytest.raises(NoProc):
        put_instance("test_kind", "dead", 1, owner=pid)
    with pytest.raises(NoProc):
        put_instance("test_kind", "dead", 1, owner="not a pid")
    assert instance("test_kind", "dead") is None
