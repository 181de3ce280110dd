"""The peer: the chat's hot path on python-socketio, for the scale benchmark.

``python -m tools.bench.peers.socketio_server --port P [--reuse-port]
[--redis redis://127.0.0.1:R]`` serves a Socket.IO 5 / Engine.IO 4 server
that does what ``tools.bench.chat_lobby`` does for the benchmark's
clients: a client connects (``?name=NAME``), emits ``join`` with a room
name and gets an ack ``{"messages": [...], "user": NAME}`` (the room's last
50 messages); ``new_msg {"body"}`` is broadcast to the room as ``new_msg
{user, body, at}``.

The setup is python-socketio's documented gevent deployment, picked for
speed and honesty: ``async_mode="gevent"`` on gevent's ``pywsgi``
WSGIServer, with the standard library monkey-patched first, websocket
transport through ``simple-websocket`` (python-engineio's fallback when
the unmaintained gevent-websocket is not installed).  Clients connect
straight to the websocket transport (no long-polling upgrade), as the
benchmark's clients do.  Above one process (a process here holds at most
20,000 sockets), several servers share the port with SO_REUSEPORT and
python-socketio's ``RedisManager`` carries room broadcasts between them:
its documented way to scale out.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402


def make_app(redis_url=None):
    mgr = socketio.RedisManager(redis_url) if redis_url else None
    sio = socketio.Server(async_mode="gevent", client_manager=mgr, cors_allowed_origins=[],
                          transports=["websocket"], logger=False, engineio_logger=False)
    users: dict = {}
    history: dict = {}

    @sio.event
    def connect(sid, environ, auth=None):
        name = parse_qs(environ.get("QUERY_STRING", "")).get("name", ["anon"])[0]
        users[sid] = name[:32]

    @sio.event
    def disconnect(sid, *args):
        users.pop(sid, None)

    @sio.event
    def join(sid, room):
        sio.enter_room(sid, room)
        return {"messages": list(history.get(room, ())), "user": users.get(sid)}

    @sio.event
    def new_msg(sid, payload):
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str) or not body.strip():
            return {"error": "empty message"}
        msg = {"user": users.get(sid), "body": body.strip()[:500], "at": int(time.time() * 1000)}
        for room in sio.rooms(sid):
            if room != sid:
                history.setdefault(room, deque(maxlen=50)).append(msg)
                sio.emit("new_msg", msg, to=room)
        return {"ok": True}

    return socketio.WSGIApp(sio)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench.peers.socketio_server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--reuse-port", action="store_true")
    ap.add_argument("--redis", default=None, help="RedisManager URL (several processes)")
    args = ap.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    server = pywsgi.WSGIServer(sock, make_app(args.redis), log=None, error_log=None)
    print(f"socketio peer listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
