"""Every named component killed with ``exit(pid, "kill")`` leaves nothing
behind (no named instance, process, name, link or monitor; its name
resolves to nothing) and a new one starts under the same name.

``"kill"`` runs no ``terminate``: what is cleaned here is cleaned by the
runtime, because each component's named instance is owned by its process.
Dispatchers are not in this list: they are node-wide code, not per-instance
state (see ``beamish.pubsub._dispatch``).
"""
from __future__ import annotations

import pytest

from beamish import ANY, Registry, UnknownRegistry, exit, monitor, receive, spawn, stop, unlink
from beamish import BadArg, whereis
from beamish.channels import Endpoint, Socket
from beamish.lowlevel import current_process, instance, instance_entries
from beamish.presence import Presence, Tracker, list_presence, list_tracked, track, trackers
from beamish.pubsub import PubSub, instances, local_broadcast, subscribe, unsubscribe
from beamish.testing import assert_receive, eventually, snapshot

pytestmark = pytest.mark.timeout(60)

PS = "kill_ps"      # the PubSub the Tracker, Presence and Endpoint cases use


class _Socket(Socket):
    pass


def _holder():
    receive("never")


def _kill(pid) -> None:
    ref = monitor(pid)
    exit(pid, "kill")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=5).reason == "killed"


def _nothing_left(before) -> None:
    """Wait until the runtime holds nothing ``before`` did not (processes,
    names, links, monitors, named instances)."""
    def clean():
        now = snapshot()
        assert now.pids <= before.pids, now.pids - before.pids
        assert now.names <= before.names, now.names - before.names
        assert now.links <= before.links, now.links - before.links
        assert now.monitors.keys() <= before.monitors.keys()
        assert now.instances <= before.instances, now.instances - before.instances
        return True
    eventually(clean, timeout=10)


# ----------------------------------------------------------- components
def _pubsub_start(name):
    pid = PubSub.start(name, pool_size=2)
    subscribe(name, "room")                  # a shard now monitors the caller
    return pid


def _pubsub_gone(name):
    assert name not in instances() and whereis(name) is None
    with pytest.raises(BadArg):
        subscribe(name, "room")


def _pubsub_works(name):
    local_broadcast(name, "room", "hello")
    assert_receive("hello", timeout=5)
    unsubscribe(name, "room")


def _registry_start(name):
    reg = Registry.start_link(keys="unique", name=name)
    unlink(reg.pid)
    Registry.register(name, "key", 1)        # a partition now monitors the caller
    return reg.pid


def _registry_gone(name):
    assert all(r.name != name for r in Registry.running()) and whereis(name) is None
    with pytest.raises(UnknownRegistry):
        Registry.lookup(name, "key")


def _registry_works(name):
    assert Registry.lookup(name, "key") == [(current_process().pid, 1)]
    Registry.unregister(name, "key")


def _tracker_start(name, cls=Tracker):
    pid = cls.start(name, pubsub=PS)
    # A tracked process is linked to its shard: killed with it.
    track(name, spawn(_holder), "room", "alice", {})
    assert len(list_tracked(name, "room")) == 1
    return pid


def _tracker_gone(name):
    assert name not in trackers() and whereis(f"tracker:{name}") is None
    with pytest.raises(BadArg):
        list_tracked(name, "room")


def _tracker_works(name):
    holder = spawn(_holder)
    track(name, holder, "room", "bob", {})
    assert sorted(k for k, _ in list_tracked(name, "room")) == ["alice", "bob"]
    assert trackers()[name]["entries"] == 2
    if trackers()[name]["class"] == "Presence":
        assert sorted(list_presence(name, "room")) == ["alice", "bob"]
    _kill(holder)


def _presence_start(name):
    return _tracker_start(name, Presence)


def _presence_gone(name):
    _tracker_gone(name)
    with pytest.raises(BadArg):
        list_presence(name, "room")


def _endpoint_start(name):
    return Endpoint.start(pubsub=PS, sockets={"/socket": _Socket}, port=0, name=name)


def _endpoint_gone(name):
    assert instance("endpoint", name) is None


def _endpoint_works(name):
    assert instance("endpoint", name) is not None


COMPONENTS = {
    "pubsub": (_pubsub_start, _pubsub_gone, _pubsub_works),
    "registry": (_registry_start, _registry_gone, _registry_works),
    "tracker": (_tracker_start, _tracker_gone, _tracker_works),
    "presence": (_presence_start, _presence_gone, _tracker_works),
    "endpoint": (_endpoint_start, _endpoint_gone, _endpoint_works),
}


@pytest.fixture
def support_pubsub(request):
    """The PubSub the other components need (not itself killed)."""
    if request.node.callspec.params["component"] == "pubsub":
        yield
        return
    pid = PubSub.start(PS)
    yield
    stop(pid)


# A tracker shard traps exits: its parent's "killed" ends it with an error
# report, as OTP's gen_server reports a non-shutdown reason from its parent.
@pytest.mark.crashes_expected
@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_a_killed_component_leaves_nothing_and_its_name_can_start_again(component,
                                                                        support_pubsub):
    start, gone, works = COMPONENTS[component]
    name = f"killed_{component}"
    before = snapshot()
    pid = start(name)
    assert any(owner == pid and n == name for _, n, owner in instance_entries())
    # An Endpoint's HTTP server is no process: a kill leaves it listening,
    # so this test closes it by hand (see the report on issue 13).
    server = instance("endpoint", name).server if component == "endpoint" else None

    _kill(pid)
    _nothing_left(before)
    gone(name)
    if server is not None:
        server.stop(timeout=1.0)

    pid = start(name)
    works(name)
    stop(pid)
    _nothing_left(before)
