"""Registry: unique and duplicate keys, partitions, cleanup on owner death
with one monitor per owner, via names for GenServers."""
import gevent
import pytest

from beamish import (ANY, AlreadyRegistered, BadArg, CallExit, GenServer, NameTaken, Registry,
                     StartError, Supervisor, UnknownRegistry, call, cast, exit, is_alive,
                     monitor, process_info, receive, self, send, spawn, stop, whereis)
from beamish.testing import assert_receive, eventually, settle


def owner(reg, keys, test, value="v"):
    """A process that registers ``keys``, reports, and waits to be told to stop."""
    for k in keys:
        Registry.register(reg, k, value)
    send(test, ("registered", self()))
    receive("stop")


def start_owner(reg, keys, value="v"):
    pid = spawn(owner, reg, keys, self(), value)
    assert_receive(("registered", pid))
    return pid


def kill_and_wait(pid):
    ref = monitor(pid)
    exit(pid, "kill")
    assert_receive(("DOWN", ref, ANY, ANY, ANY))


def monitor_targets(pid):
    return sorted(m.target for m in process_info(pid).monitors)


@pytest.fixture
def unique():
    reg = Registry.start_link(keys="unique", name="test_unique")
    yield reg
    stop(reg.pid)


@pytest.fixture
def duplicate():
    reg = Registry.start_link(keys="duplicate", name="test_duplicate")
    yield reg
    stop(reg.pid)


# ------------------------------------------------------------ unique keys
def test_unique_register_lookup_keys_count_and_unregister(unique):
    Registry.register(unique, "k", 1)
    Registry.register(unique, ("tuple", "key"), {"v": 2})
    assert Registry.lookup(unique, "k") == [(self(), 1)]
    assert Registry.lookup(unique, ("tuple", "key")) == [(self(), {"v": 2})]
    assert Registry.lookup(unique, "missing") == []
    assert sorted(Registry.keys(unique, self()), key=repr) == ["k", ("tuple", "key")]
    assert Registry.count(unique) == 2
    Registry.unregister(unique, "k")
    Registry.unregister(unique, "never registered")
    assert Registry.lookup(unique, "k") == []
    assert Registry.keys(unique, self()) == [("tuple", "key")]
    assert Registry.count(unique) == 1


def test_unique_key_held_by_a_live_process_raises_already_registered(unique):
    other = start_owner(unique, ["k"])
    with pytest.raises(AlreadyRegistered) as ei:
        Registry.register(unique, "k", "mine")
    assert ei.value.pid == other and ei.value.key == "k"
    assert isinstance(ei.value, NameTaken) and "already registered" in str(ei.value)
    Registry.register(unique, "own", 1)
    with pytest.raises(AlreadyRegistered) as ei:
        Registry.register(unique, "own", 2)
    assert ei.value.pid == self()
    assert Registry.lookup(unique, "k") == [(other, "v")]
    send(other, "stop")


def test_unregister_only_drops_the_callers_key(unique):
    other = start_owner(unique, ["k"])
    Registry.unregister(unique, "k")
    assert Registry.lookup(unique, "k") == [(other, "v")]
    send(other, "stop")


def test_update_value_changes_the_callers_value(unique):
    Registry.register(unique, "n", 1)
    assert Registry.update_value(unique, "n", lambda v: v + 10) == (11, 1)
    assert Registry.lookup(unique, "n") == [(self(), 11)]
    with pytest.raises(BadArg):
        Registry.update_value(unique, "not mine", lambda v: v)


def test_a_key_of_a_dead_not_yet_purged_holder_can_be_taken(unique):
    other = start_owner(unique, ["k"])
    exit(other, "kill")
    gevent.sleep(0)   # the owner is dead; its partition may not have purged it yet
    assert not is_alive(other)
    assert Registry.lookup(unique, "k") == []
    Registry.register(unique, "k", "mine")
    settle()   # the partition's purge of ``other`` must leave our entry
    assert Registry.lookup(unique, "k") == [(self(), "mine")]
    assert Registry.count(unique) == 1


# ---------------------------------------------------------- duplicate keys
def test_duplicate_keys_hold_many_entries(duplicate):
    Registry.register(duplicate, "topic", 1)
    Registry.register(duplicate, "topic", 2)
    other = start_owner(duplicate, ["topic"], value=3)
    assert sorted(Registry.lookup(duplicate, "topic"), key=lambda e: e[1]) == [
        (self(), 1), (self(), 2), (other, 3)]
    assert Registry.keys(duplicate, self()) == ["topic", "topic"]
    assert Registry.values(duplicate, "topic", self()) == [1, 2]
    assert Registry.count(duplicate) == 3
    Registry.unregister(duplicate, "topic")
    assert Registry.lookup(duplicate, "topic") == [(other, 3)]
    assert Registry.count(duplicate) == 1
    send(other, "stop")


def test_dispatch_calls_fn_with_the_entries_in_the_caller(duplicate):
    a = start_owner(duplicate, ["room"], value="a")
    b = start_owner(duplicate, ["room"], value="b")
    batches = []
    Registry.dispatch(duplicate, "room", batches.append)
    assert [sorted(batch, key=lambda e: e[1]) for batch in batches] == [[(a, "a"), (b, "b")]]
    Registry.dispatch(duplicate, "empty", batches.append)
    assert len(batches) == 1
    for pid in (a, b):
        send(pid, "stop")


def test_update_value_and_via_names_need_a_unique_registry(duplicate):
    Registry.register(duplicate, "k", 1)
    with pytest.raises(BadArg):
        Registry.update_value(duplicate, "k", lambda v: v)
    with pytest.raises(StartError):
        Echo.start(name=("via", duplicate, "srv"))


# --------------------------------------------------------- registry names
def test_a_registry_is_reachable_by_its_name_until_it_stops():
    reg = Registry.start_link(keys="unique", name="named_reg")
    assert whereis("named_reg") == reg.pid
    Registry.register("named_reg", "k", 1)
    assert Registry.lookup("named_reg", "k") == [(self(), 1)]
    with pytest.raises(StartError):
        Registry.start_link(keys="unique", name="named_reg")
    stop(reg.pid)
    with pytest.raises(UnknownRegistry):
        Registry.lookup("named_reg", "k")
    with pytest.raises(UnknownRegistry):
        Registry.register(reg, "k", 1)
    with pytest.raises(UnknownRegistry):
        Registry.count("no_such_registry")


def test_a_via_name_in_a_stopped_registry_names_no_process():
    reg = Registry.start_link(keys="unique", name="gone")
    stop(reg.pid)
    for name in [("via", reg, "srv"), ("via", Registry, ("gone", "srv"))]:
        with pytest.raises(CallExit) as ei:
            call(name, "hi")
        assert ei.value.reason == "noproc"
        cast(name, "dropped")    # cast never fails, as OTP's


def test_bad_start_arguments_are_rejected():
    with pytest.raises(BadArg):
        Registry.start_link(keys="many")
    with pytest.raises(BadArg):
        Registry.start_link(keys="unique", partitions=0)


def test_a_registry_runs_under_a_supervisor():
    sup = Supervisor.start_link([Registry.child_spec(keys="duplicate", name="sup_reg")])
    Registry.register("sup_reg", "k", 1)
    assert Registry.lookup("sup_reg", "k") == [(self(), 1)]
    stop(sup)
    assert whereis("sup_reg") is None


# ------------------------------------------------- cleanup on owner death
@pytest.mark.parametrize("kind", ["unique", "duplicate"])
def test_entries_are_removed_when_the_owner_dies(kind):
    reg = Registry.start_link(keys=kind)
    pid = start_owner(reg, ["a", "b", "c"])
    assert Registry.count(reg) == 3
    kill_and_wait(pid)
    eventually(lambda: Registry.count(reg) == 0, timeout=0.5)
    assert [Registry.lookup(reg, k) for k in "abc"] == [[], [], []]
    assert Registry.keys(reg, pid) == []
    stop(reg.pid)


def test_a_partition_holds_one_monitor_per_owner_however_many_keys(unique):
    keys = [("k", i) for i in range(100)]
    for k in keys:
        Registry.register(unique, k, None)
    partition = unique.partition_pids[0]
    eventually(lambda: monitor_targets(partition) == [self()])
    for k in keys[:-1]:
        Registry.unregister(unique, k)
    settle()
    assert monitor_targets(partition) == [self()]
    Registry.unregister(unique, keys[-1])
    eventually(lambda: monitor_targets(partition) == [])
    assert process_info(self()).monitored_by == ()


def test_owners_spread_over_partitions_by_pid():
    reg = Registry.start_link(keys="duplicate", partitions=4)
    owners = [start_owner(reg, ["x", "y", ("own", i)]) for i in range(12)]
    assert len({p.id % 4 for p in owners}) == 4
    for i, partition in enumerate(reg.partition_pids):
        mine = sorted(p for p in owners if p.id % 4 == i)
        eventually(lambda: monitor_targets(partition) == mine)
    assert len(Registry.lookup(reg, "x")) == 12 and Registry.count(reg) == 36
    for p in owners:
        kill_and_wait(p)
    eventually(lambda: Registry.count(reg) == 0)
    assert all(monitor_targets(p) == [] for p in reg.partition_pids)
    stop(reg.pid)


@pytest.mark.crashes_expected
def test_a_restarted_partition_watches_the_owners_again(unique):
    pid = start_owner(unique, ["k1", "k2"])
    old = unique.partition_pids[0]
    kill_and_wait(old)
    eventually(lambda: unique.partition_pids[0] != old and is_alive(unique.partition_pids[0]))
    eventually(lambda: monitor_targets(unique.partition_pids[0]) == [pid])
    kill_and_wait(pid)
    eventually(lambda: Registry.count(unique) == 0)


def test_stopping_a_registry_leaves_its_owners_alive():
    reg = Registry.start_link(keys="unique")
    pid = start_owner(reg, ["k"])
    stop(reg.pid)
    settle()
    assert is_alive(pid) and process_info(pid).monitored_by == ()
    send(pid, "stop")


# -------------------------------------------------------------- via names
class Echo(GenServer):
    def init(self, test=None):
        self.test = test

    def handle_call(self, request, from_):
        return ("echo", request)

    def handle_cast(self, msg):
        send(self.test, ("cast", msg))


def test_via_name_starts_calls_and_casts_a_gen_server(unique):
    name = ("via", unique, "srv")
    pid = Echo.start(self(), name=name)
    assert unique.whereis_name("srv") == pid
    assert Registry.lookup(unique, "srv") == [(pid, None)]
    assert call(name, "hi") == ("echo", "hi")
    cast(name, "hello")
    assert_receive(("cast", "hello"))
    # Elixir's spelling, {:via, Registry, {name, key}}, reaches the same server
    elixir_name = ("via", Registry, ("test_unique", "srv"))
    assert call(elixir_name, "again") == ("echo", "again")
    stop(elixir_name)


def test_a_via_name_is_freed_when_the_server_dies(unique):
    name = ("via", unique, "srv")
    pid = Echo.start(name=name)
    kill_and_wait(pid)
    assert unique.whereis_name("srv") is None
    with pytest.raises(CallExit) as ei:
        call(name, "hi")
    assert ei.value.reason == "noproc"
    eventually(lambda: Registry.count(unique) == 0)
    again = Echo.start(name=name)
    assert call(name, "hi") == ("echo", "hi") and again != pid
    stop(again)


def test_a_second_start_under_the_same_via_name_fails_with_start_error(unique):
    name = ("via", Registry, ("test_unique", "srv"))
    first = Echo.start(name=name)
    with pytest.raises(StartError) as ei:
        Echo.start_link(name=name)
    tag, holder = ei.value.reason
    assert tag == "already_started"
    assert holder == first, "as OTP: the reason names the pid holding the name"
    assert Registry.lookup(unique, "srv") == [(first, None)]
    stop(first)


def test_unregister_name_drops_the_key_whoever_holds_it(unique):
    pid = Echo.start(name=("via", unique, "srv"))
    unique.unregister_name("srv")
    assert unique.whereis_name("srv") is None and Registry.count(unique) == 0
    eventually(lambda: monitor_targets(unique.partition_pids[0]) == [])
    stop(pid)
