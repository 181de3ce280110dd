"""The observer's side of the control protocol: a blocking client.

It uses plain sockets and no gevent, so it runs in any program (the
terminal UI calls it from a worker thread).  A test process whose hub
serves the endpoint can hand it a gevent socket instead
(:meth:`Client.over`), so one process can play both sides.

Example::

    with connect("demo@localhost") as node:
        info = node.node_info()
        rows = node.processes().rows
        worst = max(rows, key=lambda r: r.dup_monitors)
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import Any, Optional

from ..lowlevel import CodecError, decode_term as decode, encode_term as encode
from ._errors import AuthError, NodeNotFound, ObserverError, ObserverProtocolError, RemoteError
from ._leaks import Suspect
from ._paths import local_nodes, read_cookie, runtime_dir, socket_path
from ._records import COLUMNS, NodeInfo, ProcessDetail, ProcRow, SocketRow, TreeNode
from ._slicer import SliceCost
from ._wire import HELLO_MAX, PROTOCOL_VERSION, REPLY_MAX, frame, hello as hello_payload

__all__ = ["Client", "ProcessList", "Redialer", "cluster_view", "connect", "find_node",
           "live_nodes"]

DEFAULT_TIMEOUT = 30.0
_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class ProcessList:
    """The process list and what serving it cost the node."""

    rows: list            # ProcRow records, oldest process first
    cost: SliceCost


class Client:
    """A connection to one node's control endpoint (after the handshake).

    Every method sends one request and waits for its answer.

    Raises (any method):
        RemoteError: the node answered with an error.
        ObserverProtocolError: the node sent something that is not a valid frame.
        OSError: the connection failed or timed out.
    """

    def __init__(self, sock: Any, cookie: str) -> None:
        self.sock = sock
        hello = self._recv(HELLO_MAX)
        if not isinstance(hello, dict) or not isinstance(hello.get("challenge"), bytes):
            raise ObserverProtocolError(f"not a beamish control endpoint: {hello!r}"[:200])
        if hello.get("version") != PROTOCOL_VERSION:
            raise ObserverProtocolError(f"node speaks protocol {hello.get('version')!r}, "
                                f"we speak {PROTOCOL_VERSION}")
        self.sock.sendall(frame(hello_payload(cookie, hello["challenge"])))
        answer = self._recv(HELLO_MAX)
        if not (isinstance(answer, dict) and answer.get("ok")):
            why = answer.get("error") if isinstance(answer, dict) else repr(answer)
            raise AuthError(f"node {hello.get('node')!r} refused us: {why}")
        #: The node's name (after :meth:`attach`, the node attached to).
        self.node: str = hello.get("node", "?")
        self.via: Optional[str] = None

    @classmethod
    def over(cls, sock: Any, cookie: Optional[str] = None) -> "Client":
        """A client over an already connected socket (stdlib or gevent)."""
        return cls(sock, read_cookie(create=False) if cookie is None else cookie)

    # ----------------------------------------------------------- framing
    def _send(self, term: Any) -> None:
        self.sock.sendall(frame(encode(term)))

    def _recv_exact(self, n: int) -> memoryview:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if not k:
                raise ObserverProtocolError(f"node closed the connection ({got} of {n} bytes read)")
            got += k
        return view

    def _recv(self, max_size: int = REPLY_MAX) -> Any:
        (n,) = _HEADER.unpack(self._recv_exact(4))
        if n > max_size:
            raise ObserverProtocolError(f"frame of {n} bytes exceeds the limit of {max_size}")
        try:
            return decode(self._recv_exact(n), max_size=max_size)
        except CodecError as e:
            raise ObserverProtocolError(str(e)) from None

    def request(self, op: str, **args: Any) -> dict:
        """Send ``{"op": op, **args}``; the node's answer (``ok`` was true)."""
        self._send({"op": op, **args})
        reply = self._recv()
        if not isinstance(reply, dict):
            raise ObserverProtocolError(f"reply to {op!r} is not a map")
        if not reply.get("ok"):
            raise RemoteError(str(reply.get("error", "request failed")))
        return reply

    # ---------------------------------------------------------- requests
    def node_info(self, history: bool = False) -> NodeInfo:
        """The node as a whole; ``history`` adds its sampler's recent points."""
        return NodeInfo.from_wire(self.request("node_info", history=history)["info"])

    def processes(self) -> ProcessList:
        """Every process, with the ``process_info`` fields (no messages)."""
        reply = self.request("processes")
        columns = tuple(reply["columns"])
        if columns != COLUMNS:
            raise ObserverProtocolError(f"unexpected process list columns {columns!r}")
        make = ProcRow._make
        return ProcessList([make(r) for r in reply["rows"]], SliceCost.from_wire(reply["cost"]))

    def process(self, pid: str, messages: int = 20) -> Optional[ProcessDetail]:
        """One process in detail, or None if it is not alive."""
        try:
            reply = self.request("process", pid=pid, messages=messages)
        except RemoteError as e:
            if str(e).startswith("no such process"):
                return None
            raise
        return ProcessDetail.from_wire(reply["process"])

    def tree(self) -> list:
        """The supervision trees (TreeNode records) under the node's roots."""
        return [TreeNode.from_wire(t) for t in self.request("tree")["roots"]]

    def tables(self, top: int = 10) -> Any:
        """The node's tables (a ``Tables`` record): its PubSubs with their
        busiest ``top`` topics, Registries and Trackers with their sizes."""
        from ._tables import Tables
        return Tables.from_wire(self.request("tables", top=top)["tables"])

    def kill(self, pid: str) -> bool:
        """``exit(pid, "kill")`` on the node; True if the process was alive."""
        return bool(self.request("kill", pid=pid)["killed"])

    def attach(self, node: str) -> None:
        """Relay this connection's requests, from now on, to ``node``, which
        the node connected to reaches through distribution (see
        :func:`connect`); :attr:`node` becomes ``node``.

        Raises:
            RemoteError: the node does not run distribution, is not
                connected to ``node``, or ``node`` does not answer.
        """
        self.request("attach", node=node)
        #: The node connected to, when requests are relayed to another.
        self.via = self.node
        self.node = node

    def sockets(self) -> list:
        """The node's TCP and UDP sockets (SocketRow records), busiest first."""
        return [SocketRow._make(r) for r in self.request("sockets")["sockets"]]

    def leaks(self) -> list:
        """The leak flags the node raises alone (Suspect records)."""
        return [Suspect.from_wire(s) for s in self.request("leaks")["suspects"]]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------ discovery
def _alive(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def live_nodes(directory: Optional[str] = None) -> list:
    """Labels of the local nodes whose control socket answers, sorted."""
    d = directory or runtime_dir()
    return [n for n in local_nodes(d) if _alive(socket_path(n, d))]


def find_node(name: Optional[str] = None, directory: Optional[str] = None) -> str:
    """The socket path of the local node called ``name``.

    ``name`` is a node's full name (``demo@localhost``), the part before
    ``@`` when that is unique, or a socket path.  With no name, the only
    live local node.

    Raises:
        NodeNotFound: no node, or several, match.
    """
    d = directory or runtime_dir()
    if name and os.sep in name:
        return name
    nodes = live_nodes(d)
    if name:
        matches = [n for n in nodes if n == name] or \
            [n for n in nodes if n.split("@")[0] == name or n.startswith(name)]
    else:
        matches = nodes
    if len(matches) == 1:
        return socket_path(matches[0], d)
    what = f"named {name!r}" if name else "running"
    if not matches:
        raise NodeNotFound(f"no local node {what} (looked in {d}; "
                           f"live nodes: {', '.join(nodes) or 'none'})")
    raise NodeNotFound(f"several local nodes {what}: {', '.join(matches)}; name one")


def _dial(path: str, cookie: str, timeout: float) -> Client:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        return Client(sock, cookie)
    except BaseException:
        sock.close()
        raise


def cluster_view(*, cookie: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                 directory: Optional[str] = None) -> dict:
    """What the local nodes know of the cluster: node name -> ``(up, its
    socket label if it is local else None, the labels of the local nodes
    connected to it)``.  Every live local
    node is in it (up, by its socket label), and every node one of them
    knows through distribution (up if one of them is connected to it).
    A local node that does not answer is left out."""
    if cookie is None:
        cookie = read_cookie(create=False)
    d = directory or runtime_dir()
    view: dict = {}
    for label in live_nodes(d):
        try:
            with _dial(socket_path(label, d), cookie, timeout) as client:
                info = client.node_info()
        except (ObserverError, OSError):
            continue
        seen_by = view.get(info.node, (True, None, ()))[2]
        view[info.node] = (True, label, seen_by)
        for name, connected in info.cluster:
            was_up, was_label, seen_by = view.get(name, (False, None, ()))
            view[name] = (was_up or connected, was_label,
                          seen_by + (label,) if connected else seen_by)
    return view


def connect(name: Optional[str] = None, *, cookie: Optional[str] = None,
            timeout: float = DEFAULT_TIMEOUT) -> Client:
    """Connect to a node by name.

    A node of this host is reached through its socket (see
    :func:`find_node`).  Any other node is reached through a local node
    connected to it by distribution, which relays the requests (see
    :meth:`Client.attach`); ``name`` is then the node's full name, or the
    part before ``@`` when that is unique in the cluster.

    Raises:
        NodeNotFound, AuthError, CookieError, OSError.
    """
    if cookie is None:
        cookie = read_cookie(create=False)
    try:
        path = find_node(name)
    except NodeNotFound as local_miss:
        if not name or os.sep in name:
            raise
        return _connect_through_cluster(name, cookie, timeout, local_miss)
    return _dial(path, cookie, timeout)


def _connect_through_cluster(name: str, cookie: str, timeout: float,
                             local_miss: NodeNotFound) -> Client:
    view = cluster_view(cookie=cookie, timeout=timeout)
    reachable = {n: seen_by for n, (up, _, seen_by) in view.items() if up and seen_by}
    matches = [n for n in reachable if n == name] or \
        [n for n in reachable if n.split("@")[0] == name]
    if not matches:
        raise NodeNotFound(f"{local_miss}; nor is a node {name!r} connected to one of them "
                           f"(cluster: {', '.join(sorted(reachable)) or 'none known'})")
    if len(matches) > 1:
        raise NodeNotFound(f"several nodes in the cluster are named {name!r}: "
                           f"{', '.join(sorted(matches))}; name one")
    target = matches[0]
    client = _dial(socket_path(reachable[target][0]), cookie, timeout)
    try:
        client.attach(target)
    except RemoteError as e:
        client.close()
        raise NodeNotFound(f"node {target} cannot be reached through {client.node}: {e}") \
            from None
    except BaseException:
        client.close()
        raise
    return client


class Redialer:
    """A :class:`Client` that can dial its node again: the terminal UI's
    source, so a node that restarts (same name, new OS process) is picked
    up again without restarting the observer.

    Requests go to the current client; :meth:`reconnect` looks the node up
    again by its name (a node left with the default name is found by the
    label prefix, as :func:`find_node` does) and swaps the client in.
    """

    def __init__(self, client: Client, *, cookie: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client = client
        self.node = client.node
        self._cookie = cookie
        self._timeout = timeout

    def reconnect(self) -> None:
        """Connect to the node again, dropping the old connection.

        Raises:
            NodeNotFound: no live node of that name (yet).
            AuthError, CookieError, ObserverProtocolError, OSError: as :func:`connect`.
        """
        fresh = connect(self.node, cookie=self._cookie, timeout=self._timeout)
        self.client.close()
        self.client = fresh

    def switch(self, name: str) -> None:
        """Observe the node ``name`` instead (local or through the cluster,
        as :func:`connect`); the current connection stays if it fails.

        Raises:
            as :meth:`reconnect`.
        """
        fresh = connect(name, cookie=self._cookie, timeout=self._timeout)
        self.client.close()
        self.client = fresh
        self.node = fresh.node

    def cluster_view(self) -> dict:
        """See :func:`cluster_view`."""
        return cluster_view(cookie=self._cookie, timeout=self._timeout)

    def node_info(self, history: bool = False) -> NodeInfo:
        return self.client.node_info(history)

    def processes(self) -> ProcessList:
        return self.client.processes()

    def process(self, pid: str, messages: int = 20) -> Optional[ProcessDetail]:
        return self.client.process(pid, messages)

    def tree(self) -> list:
        return self.client.tree()

    def tables(self, top: int = 10) -> Any:
        return self.client.tables(top)

    def kill(self, pid: str) -> bool:
        return self.client.kill(pid)

    def sockets(self) -> list:
        return self.client.sockets()

    def close(self) -> None:
        self.client.close()
