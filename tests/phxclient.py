"""A Phoenix V2 JSON client for tests, over the raw test WebSocket client."""
import json

import gevent

from wsclient import Close, WSClient


class Client:
    """A Phoenix V2 JSON client over the test WebSocket client."""

    def __init__(self, port, query="vsn=2.0.0&user=alice"):
        self.ws = WSClient.connect(port, f"/socket/websocket?{query}")
        self.ref = 0
        self.pending = []

    def push(self, topic, event, payload, join_ref=None):
        self.ref += 1
        ref = str(self.ref)
        self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        return ref

    def join(self, topic, payload=None):
        ref = self.push(topic, "phx_join", payload or {}, join_ref=None)
        # the join's ref becomes its join_ref; send it as the JS client does
        return ref

    def recv(self, timeout=3.0):
        if self.pending:
            return self.pending.pop(0)
        item = self.ws.receive(timeout)
        if isinstance(item, str):
            return json.loads(item)
        return item

    def expect(self, pred, timeout=3.0):
        """The first frame matching ``pred`` (others are kept for later)."""
        for i, f in enumerate(self.pending):
            if pred(f):
                return self.pending.pop(i)
        with gevent.Timeout(timeout):
            while True:
                item = self.ws.receive(timeout)
                f = json.loads(item) if isinstance(item, str) else item
                if pred(f):
                    return f
                if isinstance(f, Close):
                    raise AssertionError(f"connection closed ({f}) while waiting")
                self.pending.append(f)

    def reply(self, ref, timeout=3.0):
        return self.expect(lambda f: isinstance(f, list) and f[1] == ref and f[3] == "phx_reply",
                           timeout)

    def event(self, event, timeout=3.0):
        return self.expect(lambda f: isinstance(f, list) and f[3] == event, timeout)

    def closed(self, timeout=3.0):
        return self.expect(lambda f: isinstance(f, Close), timeout)

    def close(self):
        try:
            self.ws.close(1000)
            self.ws.wait_eof(2)
        except OSError:
            pass
        self.ws.sock.close()


def joined(client, topic, payload=None):
    ref = client.join(topic, payload)
    r = client.reply(ref)
    assert r[4]["status"] == "ok", r
    return ref
