"""A fake remote node for in-process distribution tests: it speaks the
frame protocol by hand over a MemoryCluster, so a test can see and forge
exactly what another node would send."""
import time

import gevent

from beamish import Pid, exit, monitor, receive, self, send, spawn, stop, unlink
from beamish.core import node
from beamish.dist import Dist, TOPIC
from beamish.dist.wire import decode_op, encode_op, open_frame, seal
from beamish.pubsub import MemoryAdapter, MemoryCluster, PubSub, direct_broadcast, subscribe

SECRET = b"test-secret"
PEER = "b@test"
PEER_CREATION = 77


class FakePeer:
    """Node ``b@test``: publishes forged frames, records what it is sent."""

    def __init__(self, heartbeat=0.05, down_period=0.5):
        self.cluster = MemoryCluster()
        self.a = node()
        self.ps_a = PubSub.start("dist_a", adapter=MemoryAdapter(self.cluster, self.a))
        self.ps_b = PubSub.start("dist_b", adapter=MemoryAdapter(self.cluster, PEER))
        self.inbox = []
        self.epoch = 4242
        self.beater = None
        self.silent = False
        self.creation = PEER_CREATION
        self.fwd = spawn(self._forward, self)
        receive("forwarding")
        self.dist = Dist.start_link("dist_a", secret=SECRET, heartbeat=heartbeat,
                                    down_period=down_period)
        unlink(self.dist)

    @staticmethod
    def _forward(peer):
        subscribe("dist_b", f"{TOPIC}:{PEER}")
        subscribe("dist_b", TOPIC)
        send(peer.tester, "forwarding")
        while True:
            frame = receive()
            src, _creation, target, ops = open_frame(SECRET, frame, 1 << 20)
            peer.inbox.extend(decode_op(op) for op in ops)

    tester = None

    def ops(self, *ops, secret=SECRET, creation=None):
        creation = self.creation if creation is None else creation
        frame = seal(secret, PEER, creation, self.a, [encode_op(op) for op in ops])
        direct_broadcast("dist_b", self.a, f"{TOPIC}:{self.a}", frame)

    def take(self, kind, timeout=3.0):
        """The first recorded op of ``kind`` (removed), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, op in enumerate(self.inbox):
                if op[0] == kind:
                    return self.inbox.pop(i)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind!r} op; got {self.inbox}")
            gevent.sleep(0.005)

    def connect(self, creation=PEER_CREATION):
        """Handshake as node incarnation ``creation``, then keep beating."""
        from beamish.dist import nodes
        self.creation = creation
        self.ops(("hb",), creation=creation)
        self.take("hello")
        self.ops(("welcome", self.epoch), creation=creation)
        deadline = time.monotonic() + 3
        while PEER not in nodes():
            assert time.monotonic() < deadline, "the peer did not come up"
            gevent.sleep(0.005)
        if self.beater is None:
            self.beater = spawn(self._beat, self)

    @staticmethod
    def _beat(peer):
        while True:
            if not peer.silent:
                peer.ops(("hb",), creation=peer.creation)
            receive(timeout=0.05, default=None)

    def pid(self, id_, creation=PEER_CREATION):
        return Pid(PEER, id_, creation)

    def close(self):
        for pid in (self.dist, self.fwd, self.beater):
            if pid is None:
                continue
            ref = monitor(pid)
            exit(pid, "kill")
            receive(("DOWN", ref, "process", pid, "killed"), timeout=5)
        stop(self.ps_a)
        stop(self.ps_b)


def make_peer(**opts):
    FakePeer.tester = self()
    return FakePeer(**opts)
