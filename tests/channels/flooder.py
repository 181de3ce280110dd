"""A hostile WebSocket client, run as its own OS process by the flood tests.

    python flooder.py PORT TARGET KIND COUNT

Opens a WebSocket on loopback and writes COUNT pre-built masked frames as
fast as the kernel takes them, from a thread, while the main thread reads
what the server sends.  KIND is ``heartbeats`` (Phoenix heartbeat text
frames), ``fragments`` (one text message in one-byte fragments) or
``pings`` (Ping frames).  Prints one JSON line when the connection ends:
``{"close": code or null, "sent": bytes written, "seconds": flood time}``
(``close`` is the code of the server's Close frame; null if TCP ended
without one).  A flood written whole is followed by a Close (1000), which
the server echoes.  A separate process, so that the server's hub is the only
thing the test process measures.
"""
import base64
import json
import os
import socket
import struct
import sys
import threading
import time

DEADLINE = 20.0  # seconds; the flood stops here whatever happens


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    head = struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | n)  # n < 126 here
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def frames(kind: str, count: int) -> bytes:
    """The whole flood, built before the first byte is sent."""
    if kind == "heartbeats":
        one = masked(1, json.dumps([None, "1", "phoenix", "heartbeat", {}]).encode())
        return one * count
    if kind == "fragments":
        one = masked(0, b"x", fin=False)
        return masked(1, b"x", fin=False) + one * count + masked(0, b"x")
    if kind == "pings":
        return masked(9, b"p" * 125) * count
    raise SystemExit(f"unknown kind {kind}")


def main() -> None:
    port, target, kind, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    flood = frames(kind, count)
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("no handshake response")
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"upgrade refused: {head[:40]!r}")
    sent = [0]
    started = time.monotonic()
    sock.settimeout(DEADLINE)

    def write() -> None:
        view = memoryview(flood)
        try:
            while sent[0] < len(flood) and time.monotonic() - started < DEADLINE:
                sent[0] += sock.send(view[sent[0]:sent[0] + 65536])
            sock.sendall(masked(8, struct.pack("!H", 1000)))  # all sent: close politely
        except OSError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    code = None
    try:
        while True:  # server frames: unmasked, short (replies and the Close)
            while len(data) >= 2:
                n = data[1] & 0x7F
                extra = 2 if n == 126 else 8 if n == 127 else 0
                if len(data) < 2 + extra:
                    break
                length = int.from_bytes(data[2:2 + extra], "big") if extra else n
                if len(data) < 2 + extra + length:
                    break
                if data[0] & 0x0F == 8:
                    payload = data[2 + extra:2 + extra + length]
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    raise StopIteration
                data = data[2 + extra + length:]
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (StopIteration, OSError):
        pass
    elapsed = time.monotonic() - started
    print(json.dumps({"close": code, "sent": sent[0], "seconds": round(elapsed, 3)}), flush=True)
    sock.close()


if __name__ == "__main__":
    main()
