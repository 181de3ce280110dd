"""Distribution: processes that reach each other across nodes.

Start :class:`Dist` on every node, over a PubSub that spans the cluster
(Redis, or the host relay between ``--workers``), with one shared secret::

    children = [PubSub.child_spec("cluster", adapter=RedisAdapter(url)),
                Dist.child_spec("cluster", secret=os.environ["CLUSTER_SECRET"])]

Then the core's ``send``, ``monitor``, ``link``, ``exit`` and GenServer
``call``/``cast`` work on pids of other nodes and on ``(name, node)``
exactly as on local ones (see README.rst's "Distribution" section for the
guarantees).  This package adds what only exists with several nodes:
:func:`nodes`, :func:`monitor_node`, :func:`monitor_nodes`, cluster-wide
names (:func:`register_name`... and :data:`global_names` for
``("via", global_names, name)``) and process groups (:func:`join`...).
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import Pid, self as _self
from ..otp import ChildSpec
from . import _node
from ._errors import DistError, NotDistributed
from ._global import rank
from ._node import RemoteException, TOPIC

__all__ = [
    "Dist", "DistError", "NotDistributed", "RemoteException", "TOPIC", "global_names", "is_alive",
    "join", "known_nodes", "leave", "local_members", "members", "monitor_node", "monitor_nodes",
    "nodes", "rank",
    "register_name", "registered_names", "stats", "unregister_name", "whereis_name",
    "which_groups",
]


class Dist:
    """This node's membership of the cluster (Erlang's ``net_kernel``).

    Options: ``pubsub``, the name of a running PubSub whose adapter speaks
    for this node; ``secret``, the cluster's shared secret (frames signed
    with another are dropped and logged); ``heartbeat``, seconds between
    the heartbeats this node publishes; ``down_period``, seconds of silence
    after which a node is down; ``max_frame``, the largest frame accepted.
    One per node.
    """

    @staticmethod
    def start_link(pubsub: str, *, secret: Any, heartbeat: float = 0.5,
                   down_period: float = 3.0, max_frame: int = 16 << 20) -> Pid:
        """Start distribution, linked to the caller; returns its agent's pid
        once this node routes to others."""
        return _node.start_link(pubsub, secret, heartbeat, down_period, max_frame)

    @classmethod
    def child_spec(cls, pubsub: str, **opts: Any) -> ChildSpec:
        """Supervise distribution (start it after its PubSub)."""
        return ChildSpec(id=("beamish.dist", pubsub), start=cls.start_link, args=(pubsub,),
                         kwargs=opts)


def nodes() -> list:
    """The names of the nodes connected to this one (not this one), sorted."""
    n = _node._current
    return [] if n is None else sorted(p.name for p in n.peers.values() if p.up)


def is_alive() -> bool:
    """Erlang's ``is_alive``: whether distribution runs on this node (it is
    opt-in: an application starts :class:`Dist` in its tree)."""
    return _node._current is not None


def known_nodes() -> list:
    """``(name, up)`` for every other node this one has heard from since
    distribution started, sorted by name: the connected ones (``up``) and
    those that went down (killed, stopped, partitioned).  Empty when
    distribution is not running."""
    n = _node._current
    return [] if n is None else sorted((p.name, p.up) for p in n.peers.values())


def monitor_node(node: str, flag: bool = True) -> None:
    """Erlang's ``monitor_node``: the caller gets ``("nodedown", node)``
    when ``node`` goes down, or at once if it is not connected; one message
    per call.  ``flag=False`` cancels the caller's monitors of ``node``."""
    _node.current().monitor_node(_self(), node, flag)


def monitor_nodes(flag: bool = True) -> None:
    """Erlang's ``net_kernel:monitor_nodes``: the caller gets
    ``("nodeup", node)`` and ``("nodedown", node)`` for every node, until
    ``flag=False`` or its end."""
    _node.current().monitor_nodes(_self(), flag)


def stats() -> dict:
    """Counters of this node's distribution: frames in and out, frames
    dropped for a bad secret or shape, messages dropped to down nodes; and
    the connected nodes and the largest frame accepted."""
    n = _node.current()
    return {"frames_in": n.frames_in, "frames_out": n.frames_out, "bad_frames": n.bad_frames,
            "dropped": n.dropped, "nodes": nodes(), "max_frame": n.max_frame}


# ------------------------------------------------------------ global names
def register_name(name: Any, pid: Pid) -> None:
    """Register ``pid`` under the cluster-wide ``name``.

    Raises:
        NameTaken: ``name`` is registered (as this node knows).
        NoProc: ``pid`` is not alive, or its node is not connected.
    """
    _node.current().names.register(name, pid)


def unregister_name(name: Any) -> None:
    """Release the cluster-wide ``name``.  Raises NotRegistered if unknown."""
    _node.current().names.unregister(name)


def whereis_name(name: Any) -> Optional[Pid]:
    """The pid registered under the cluster-wide ``name``, or None."""
    n = _node._current
    return None if n is None else n.names.whereis(name)


def registered_names() -> list:
    """Every cluster-wide name this node knows."""
    n = _node._current
    return [] if n is None else list(n.names.table)


class _GlobalNames:
    """The registry of ``("via", global_names, name)`` server names."""

    register_name = staticmethod(register_name)
    unregister_name = staticmethod(unregister_name)
    whereis_name = staticmethod(whereis_name)

    def __repr__(self) -> str:
        return "beamish.dist.global_names"


#: Use as ``("via", global_names, name)`` to start or call a GenServer by a
#: cluster-wide name.
global_names = _GlobalNames()


# ---------------------------------------------------------- process groups
def _pids(pids: Any) -> list:
    return [pids] if pids.__class__ is Pid else list(pids)


def join(group: Any, pids: Any) -> None:
    """Add a pid, or each of a list, of this node to ``group`` (once per call)."""
    _node.current().groups.join(group, _pids(pids))


def leave(group: Any, pids: Any) -> bool:
    """Remove one membership of each given pid; False if none was a member."""
    return _node.current().groups.leave(group, _pids(pids))


def members(group: Any) -> list:
    """Every member of ``group`` on every connected node (a pid once per join)."""
    n = _node._current
    return [] if n is None else n.groups.members(group)


def local_members(group: Any) -> list:
    """The members of ``group`` on this node."""
    n = _node._current
    return [] if n is None else n.groups.local_members(group)


def which_groups() -> list:
    """Every group with a member somewhere in the cluster."""
    n = _node._current
    return [] if n is None else n.groups.which_groups()
