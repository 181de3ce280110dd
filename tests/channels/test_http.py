"""The HTTP server: upgrades and their refusals, static files, keep-alive, limits, listening.

Real loopback sockets on ephemeral ports, the server and the clients in this
process; one test also drives an independent client library
(``websocket-client``) from a thread.
"""
import base64
import errno
import logging
import os
import threading
import time

import gevent
import gevent.queue
import gevent.socket
import pytest

from beamish.channels._http import (HTTPServer, RequestInfo, ServerStatistics, StaticFiles,
                                    WebSocketRoute)
from beamish.channels._transport_errors import ConnectionClosed
from beamish.testing import eventually

from tools.harness.client import (Close, HTTPClient, Rejected, WSClient, http_request,
                                  raw_exchange, ws_upgrade_headers)
from tools.harness.fixtures import hub_errors  # noqa: F401

pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("hub_errors")]


@pytest.fixture(autouse=True)
def no_logged_errors(caplog):
    """Fail a test that made the server log an error it did not expect (tests
    that expect one check it and then clear ``caplog``)."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(listen=("127.0.0.1", 0), **options):
        server = HTTPServer(listen, **options)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop(timeout=1)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "js" / "app.js").write_text("console.log('hi')")
    (root / "data.bin").write_bytes(bytes(range(256)) * 2000)  # 512000 bytes: several chunks
    (root / "style.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("do not serve")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    return root


def echo(ws, info):
    while True:
        ws.send(ws.receive())


def btoa(token):
    return base64.b64encode(token.encode("latin-1")).decode().rstrip("=")


# -- listening ----------------------------------------------------------------------------

def test_port_zero_binds_a_free_port_on_loopback_known_before_start():
    server = HTTPServer()
    try:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0 and server.port == port
    finally:
        server.stop(timeout=0.1)


def test_reuse_port_lets_two_servers_share_a_port(make_server):
    first = make_server(reuse_port=True)
    second = make_server(listen=("127.0.0.1", first.port), reuse_port=True)
    assert second.port == first.port
    assert http_request(first.port, "GET", "/").status == 404


def test_without_reuse_port_a_taken_port_is_refused(make_server):
    first = make_server()
    with pytest.raises(OSError) as info:
        HTTPServer(("127.0.0.1", first.port))
    assert info.value.errno == errno.EADDRINUSE


# -- upgrades -----------------------------------------------------------------------------

def test_an_upgrade_reaches_the_handler_with_the_request_info(make_server):
    infos = gevent.queue.Queue()

    def handler(ws, info):
        infos.put(info)
        echo(ws, info)

    server = make_server(routes=[WebSocketRoute("/socket", handler)])
    client = WSClient.connect(server.port, "/socket/websocket?token=abc&vsn=2.0.0&x=1&x=2",
                              subprotocols=["phoenix", "base64url.bearer.phx." + btoa("SFMy.tok")])
    assert client.subprotocol == "phoenix"
    client.send("hi")
    assert client.receive() == "hi"
    info = infos.get(timeout=1)
    assert isinstance(info, RequestInfo)
    assert info.path == "/socket/websocket"
    assert info.query == {"token": "abc", "vsn": "2.0.0", "x": "2"}
    assert info.auth_token == "SFMy.tok"
    assert info.header("Sec-WebSocket-Protocol") == "phoenix, base64url.bearer.phx." + btoa("SFMy.tok")
    assert info.peer[0] == "127.0.0.1" and info.peer[1] == client.sock.getsockname()[1]
    client.shutdown()


def test_a_refused_connect_is_a_403_with_an_empty_body(make_server):
    calls = []
    server = make_server(routes=[WebSocketRoute("/socket", calls.append, connect=lambda info: False)])
    with pytest.raises(Rejected) as info:
        WSClient.connect(server.port)
    assert info.value.status == 403 and info.value.body == b""
    assert info.value.headers["content-length"] == "0"
    assert calls == []


def test_connect_may_answer_another_status(make_server):
    server = make_server(routes=[WebSocketRoute("/socket", echo, connect=lambda info: 401)])
    with pytest.raises(Rejected) as info:
        WSClient.connect(server.port)
    assert info.value.status == 401


def test_connect_sees_the_token_and_can_pass_assigns_to_the_handler(make_server):
    def connect(info):
        if info.auth_token != "good":
            return False
        info.assigns["user_id"] = 7
        return True

    def handler(ws, info):
        ws.send(str(info.assigns["user_id"]))
        ws.receive()

    server = make_server(routes=[WebSocketRoute("/socket", handler, connect=connect)])
    with pytest.raises(Rejected):
        WSClient.connect(server.port, subprotocols=["phoenix", "base64url.bearer.phx." + btoa("bad")])
    client = WSClient.connect(server.port, subprotocols=["phoenix", "base64url.bearer.phx." + btoa("good")])
    assert client.receive() == "7"
    client.shutdown()


@pytest.mark.crashes_expected
def test_a_crashing_connect_is_a_500_and_is_logged(make_server, caplog):
    def connect(info):
        raise ValueError("boom")

    server = make_server(routes=[WebSocketRoute("/socket", echo, connect=connect)])
    with caplog.at_level(logging.ERROR, logger="beamish.channels._http"):
        with pytest.raises(Rejected) as info:
            WSClient.connect(server.port)
    assert info.value.status == 500
    assert "boom" in caplog.text
    caplog.clear()


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "DELETE"])
def test_a_non_get_to_the_websocket_path_is_a_400(make_server, method):
    server = make_server(routes=[WebSocketRoute("/socket", echo)])
    assert http_request(server.port, method, "/socket/websocket", ws_upgrade_headers()).status == 400


@pytest.mark.parametrize("headers, status", [
    (ws_upgrade_headers(key="not-a-key"), 400),
    (ws_upgrade_headers(key=base64.b64encode(b"short").decode()), 400),
    (ws_upgrade_headers(sec_websocket_version="8"), 426),
    ([], 400),  # a plain GET
    ([("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-version", "13")], 400),
])
def test_a_bad_handshake_is_a_4xx_never_a_500(make_server, headers, status):
    handled = []
    server = make_server(routes=[WebSocketRoute("/socket", handled.append)])
    response = http_request(server.port, "GET", "/socket/websocket", headers)
    assert response.status == status
    assert handled == []
    if status == 426:
        assert response.headers["sec-websocket-version"] == "13"


UPGRADE = (b"GET /socket/websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Version: 13\r\n")
KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


@pytest.mark.parametrize("request_bytes", [
    UPGRADE + b"Host: \xff\xfe\r\n" + KEY + b"\r\n",
    UPGRADE + b"Host: x\r\n" + KEY + KEY + b"\r\n",
    UPGRADE + b"Host: x\r\nSec-WebSocket-Key: \xff\xff\xff\xff\r\n\r\n",
    UPGRADE + b"Host: x\r\n" + KEY + b"Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.%%%\r\n\r\n",
    UPGRADE + b"Host: x\r\n" + KEY + b"Origin: \xff\r\n\r\n",
    UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0") + KEY + b"\r\n",
    UPGRADE + b"Host: x\r\n" + KEY + b"Content-Length: 3\r\n\r\nabc",
])
def test_odd_upgrade_requests_get_a_4xx_never_a_500(make_server, request_bytes):
    server = make_server(routes=[WebSocketRoute("/socket", echo)],
                         allowed_origins=["https://app.example.com"])
    reply = raw_exchange(server.port, request_bytes)
    assert reply[:10] == b"HTTP/1.1 4", reply[:200]


def test_origin_check(make_server):
    server = make_server(routes=[WebSocketRoute("/socket", echo)],
                         allowed_origins=["https://app.example.com"])
    with pytest.raises(Rejected) as info:
        WSClient.connect(server.port, headers=[("Origin", "https://evil.example.com")])
    assert info.value.status == 403 and info.value.body == b""
    for headers in ([("Origin", "https://APP.example.com")], []):  # no Origin: not a browser
        client = WSClient.connect(server.port, headers=headers)
        client.send("ok")
        assert client.receive() == "ok"
        client.shutdown()


def test_a_handler_that_returns_closes_with_1000(make_server):
    server = make_server(routes=[WebSocketRoute("/socket", lambda ws, info: ws.send("bye"))])
    client = WSClient.connect(server.port)
    assert client.receive() == "bye"
    assert client.receive() == Close(1000, "")


@pytest.mark.crashes_expected
def test_a_crashing_handler_closes_with_1011_and_the_server_goes_on(make_server, caplog):
    def handler(ws, info):
        if ws.receive() == "crash":
            raise RuntimeError("handler bug")
        ws.send("fine")

    server = make_server(routes=[WebSocketRoute("/socket", handler)])
    with caplog.at_level(logging.ERROR, logger="beamish.channels._http"):
        client = WSClient.connect(server.port)
        client.send("crash")
        assert client.receive() == Close(1011, "internal error")
    assert "handler bug" in caplog.text
    caplog.clear()
    client = WSClient.connect(server.port)
    client.send("hello")
    assert client.receive() == "fine"


def test_limits_and_timeouts_reach_the_websockets(make_server):
    server = make_server(routes=[WebSocketRoute("/socket", echo)], max_message_size=100,
                         idle_timeout=0.3)
    client = WSClient.connect(server.port)
    client.send(b"x" * 101)
    assert client.receive().code == 1009
    client = WSClient.connect(server.port)
    assert client.receive() == Close(1001, "idle timeout")


def test_stop_closes_websockets_with_1012_and_returns_promptly(make_server):
    ended = gevent.queue.Queue()

    def handler(ws, info):
        try:
            ws.receive()
        except ConnectionClosed as exc:
            ended.put(exc.code)
            raise

    server = make_server(routes=[WebSocketRoute("/socket", handler)])
    clients = [WSClient.connect(server.port) for _ in range(3)]
    keepalive = HTTPClient(server.port)
    assert keepalive.request("GET", "/").status == 404
    eventually(lambda: server.statistics() == ServerStatistics(connections=4, websockets=3))
    assert server.statistics() == ServerStatistics(connections=4, websockets=3)
    readers = [gevent.spawn(c.receive) for c in clients]  # they echo the Close
    started = time.monotonic()
    server.stop(timeout=2)
    assert time.monotonic() - started < 1
    assert [r.get(timeout=1) for r in readers] == [Close(1012, "server shutting down")] * 3
    assert [ended.get(timeout=1) for _ in clients] == [1012] * 3
    assert keepalive.server_closed
    keepalive.close()
    assert server.statistics() == ServerStatistics(connections=0, websockets=0)


def test_an_independent_client_library_interoperates(make_server):
    websocket = pytest.importorskip("websocket")  # websocket-client
    server = make_server(routes=[WebSocketRoute("/socket", echo)])
    url = f"ws://127.0.0.1:{server.port}/socket/websocket?vsn=2.0.0"
    results = {}

    def run():  # a real thread: this library blocks on plain sockets
        try:
            ws = websocket.create_connection(
                url, timeout=5, subprotocols=["phoenix", "base64url.bearer.phx." + btoa("tok")])
            results["subprotocol"] = ws.getsubprotocol()
            ws.send("text ☃")
            results["text"] = ws.recv()
            ws.send_binary(b"\x00\xff")
            results["binary"] = ws.recv()
            ws.ping(b"p")
            results["pong"] = ws.recv_data_frame(True)[1].data
            ws.send_close(4000, b"done")
            frame = ws.recv_data_frame(True)[1]
            results["close"] = (int.from_bytes(frame.data[:2], "big"), frame.data[2:])
            ws.close()
        except Exception as exc:  # reported to the test
            results["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        gevent.sleep(0.01)  # keeps the hub (and so the server) running
    assert not thread.is_alive()
    assert "error" not in results, results["error"]
    assert results == {"subprotocol": "phoenix", "text": "text ☃", "binary": b"\x00\xff",
                       "pong": b"p", "close": (4000, b"done")}


# -- static files -------------------------------------------------------------------------

@pytest.mark.parametrize("path, body, kind", [
    ("/", b"<h1>home</h1>", "text/html; charset=utf-8"),
    ("/index.html", b"<h1>home</h1>", "text/html; charset=utf-8"),
    ("/js/app.js", b"console.log('hi')", "charset=utf-8"),
    ("/style.css", b"body{}", "text/css; charset=utf-8"),
    ("/data.bin", bytes(range(256)) * 2000, "application/octet-stream"),
    ("/js/", None, None),
])
def test_static_files_are_served_with_their_content_type(make_server, site, path, body, kind):
    server = make_server(static=site)
    response = http_request(server.port, "GET", path)
    if body is None:
        assert response.status == 404  # a directory without index.html
        return
    assert response.status == 200
    assert response.body == body
    assert int(response.headers["content-length"]) == len(body)
    assert kind in response.headers["content-type"]
    assert "last-modified" in response.headers


def test_head_sends_the_headers_without_the_body(make_server, site):
    server = make_server(static=site)
    client = HTTPClient(server.port)
    response = client.request("HEAD", "/data.bin")
    assert response.status == 200 and response.body == b""
    assert response.headers["content-length"] == "512000"
    assert client.request("GET", "/style.css").body == b"body{}"  # the connection is still in sync
    missing = client.request("HEAD", "/missing")
    assert missing.status == 404 and missing.body == b""
    assert client.request("GET", "/style.css").body == b"body{}"
    client.close()


@pytest.mark.parametrize("path", ["/missing.html", "/../secret.txt", "/%2e%2e/secret.txt",
                                  "/js/..%2f..%2fsecret.txt", "/js/%2e%2e/%2e%2e/secret.txt",
                                  "/escape", "/..\\secret.txt", "/index.html%00.js",
                                  "//etc/passwd"])
def test_missing_files_and_escapes_are_404(make_server, site, path):
    server = make_server(static=site)
    response = http_request(server.port, "GET", path)
    assert response.status == 404
    assert b"do not serve" not in response.body


def test_static_lookup_is_pure_and_confined(site):
    static = StaticFiles(site, prefix="/assets")
    assert static.resolve("/assets/js/app.js") == str(site / "js" / "app.js")
    assert static.resolve("/assets") == str(site / "index.html")
    assert static.resolve("/js/app.js") is None
    assert static.resolve("/assets/../secret.txt") is None
    assert static.resolve("/assets/escape") is None


def test_other_methods_on_static_paths_are_405(make_server, site):
    server = make_server(static=site)
    response = http_request(server.port, "POST", "/index.html", body=b"x=1")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_without_a_static_directory_everything_else_is_404(make_server):
    server = make_server(routes=[WebSocketRoute("/socket", echo)])
    assert http_request(server.port, "GET", "/index.html").status == 404


# -- HTTP/1.1 behaviour -------------------------------------------------------------------

def test_plain_http_connections_are_kept_alive(make_server, site):
    server = make_server(static=site)
    client = HTTPClient(server.port)
    for path in ("/", "/style.css", "/missing", "/js/app.js"):
        assert client.request("GET", path).status in (200, 404)
    assert not client.server_closed
    client.request("GET", "/", [("connection", "close")])
    assert client.server_closed
    client.close()


def test_a_refused_upgrade_keeps_the_connection_usable(make_server, site):
    server = make_server(static=site,
                         routes=[WebSocketRoute("/socket", echo, connect=lambda info: False)])
    client = HTTPClient(server.port)
    assert client.request("GET", "/socket/websocket", ws_upgrade_headers()).status == 403
    assert client.request("GET", "/style.css").body == b"body{}"
    client.close()


def test_oversized_request_headers_are_a_431_and_the_connection_is_closed(make_server):
    server = make_server(max_header_size=4096)
    reply = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000
                         + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in reply.lower()


def test_a_malformed_request_is_a_400(make_server):
    server = make_server()
    assert raw_exchange(server.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_a_request_that_never_finishes_is_dropped_after_request_timeout(make_server):
    server = make_server(request_timeout=0.3)
    sock = gevent.socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    started = time.monotonic()
    with gevent.Timeout(5):
        assert sock.recv(100) == b""
    assert 0.25 < time.monotonic() - started < 3
    sock.close()
