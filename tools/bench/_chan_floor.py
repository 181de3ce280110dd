"""The channels suite's floor: the same wire protocol with the least
machinery gevent allows.

``python -m tools.bench._chan_floor [PORT]`` (0: any free port) runs a
gevent ``StreamServer``; a connection is one greenlet and one socket, no
wsproto, no h11, no processes: it reads the upgrade request, answers 101,
then reads masked client frames with the harness's small
:class:`~tools.harness.wire.FrameReader`.  ``phx_join`` adds the socket
to its topic's list and replies ok; ``heartbeat`` replies ok; ``shout``
encodes one broadcast frame and ``sendall``s it to every socket of the
topic from the greenlet that read it (the fan-out loop with nothing
around it).  Enough for the suite's clients, nothing more: no close
handshake, no validation.

Commands on stdin as :mod:`tools.bench._chan_server`'s (``rss``,
``stats``: sockets joined).  Prints ``listening PORT``.
"""
from gevent import monkey

monkey.patch_all()

import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

from tools.harness.console import out, serve  # noqa: E402
from tools.harness.wire import FrameReader, server_frame  # noqa: E402

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
topics: dict = {}     # topic -> list of sockets


def _frame(text: str) -> bytes:
    return server_frame(text.encode())


def handle(sock, _addr):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    reader = FrameReader(rest, masked=True)
    chunk = b""
    joined = []
    try:
        while True:
            for opcode, payload in reader.feed(chunk):
                if opcode == 8:
                    return
                join_ref, ref, topic, event, body = json.loads(payload)
                if event == "phx_join":
                    topics.setdefault(topic, []).append(sock)
                    joined.append(topic)
                    sock.sendall(_frame(json.dumps([join_ref, ref, topic, "phx_reply",
                                                    {"status": "ok", "response": {}}])))
                elif event == "heartbeat":
                    sock.sendall(_frame(json.dumps([None, ref, topic, "phx_reply",
                                                    {"status": "ok", "response": {}}])))
                elif event == "shout":
                    frame = _frame(json.dumps([None, None, topic, "shout", body]))
                    for s in topics.get(topic, ()):
                        try:
                            s.sendall(frame)
                        except OSError:
                            pass
            chunk = sock.recv(65536)
            if not chunk:
                return
    finally:
        for topic in joined:
            topics[topic].remove(sock)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = StreamServer(("127.0.0.1", port), handle, backlog=1024)
    server.start()
    out(f"listening {server.server_port}")
    serve({"stats": lambda: f"stats {sum(len(v) for v in topics.values())}"})
    server.stop(timeout=1)


if __name__ == "__main__":
    main()
