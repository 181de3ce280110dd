"""tools.harness.wire: the load client's frames and messages, fed bytes, no sockets."""
import json
import struct

import pytest

from tools.harness import percentiles
from tools.harness.wire import (OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, FrameReader, WireError,
                                client_frame, eio, parse_upgrade_response, phx, server_frame,
                                upgrade_request)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_client_frame_is_masked_with_zero_key_and_carries_payload_as_is(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = client_frame(payload)
    assert frame[0] == 0x81
    assert frame[1] & 0x80
    n = frame[1] & 0x7F
    head = 2 if n < 126 else 4 if n == 126 else 10
    length = n if n < 126 else struct.unpack_from("!H" if n == 126 else "!Q", frame, 2)[0]
    assert length == size
    assert frame[head:head + 4] == b"\0\0\0\0"
    assert frame[head + 4:] == payload


def test_wsproto_server_reads_the_client_frames():
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.events import TextMessage
    conn = Connection(ConnectionType.SERVER)
    conn.receive_data(phx.heartbeat(7) + phx.join("room:a", "1"))
    texts = [e.data for e in conn.events() if isinstance(e, TextMessage)]
    assert [json.loads(t) for t in texts] == [
        [None, "7", "phoenix", "heartbeat", {}], ["1", "1", "room:a", "phx_join", {}]]


def test_frame_reader_yields_frames_split_at_every_byte():
    stream = (server_frame(b"hello") + server_frame(b"x" * 300) + server_frame(b"p", OP_PING)
              + server_frame(b"y" * 70000, OP_BINARY))
    r = FrameReader()
    got = []
    for i in range(len(stream)):
        got += list(r.feed(stream[i:i + 1]))
    assert got == [(OP_TEXT, b"hello"), (OP_TEXT, b"x" * 300), (OP_PING, b"p"),
                   (OP_BINARY, b"y" * 70000)]
    assert r.buf == b""


def test_frame_reader_reassembles_fragments_around_a_control_frame():
    stream = (server_frame(b"ab", OP_TEXT, fin=False) + server_frame(b"", OP_PING)
              + server_frame(b"cd", 0, fin=False) + server_frame(b"e", 0, fin=True))
    assert list(FrameReader().feed(stream)) == [(OP_PING, b""), (OP_TEXT, b"abcde")]


def test_frame_reader_starts_with_bytes_left_after_the_upgrade():
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    status, rest = parse_upgrade_response(head + server_frame(b"hi"))
    assert status == 101
    assert list(FrameReader(rest).feed(b"")) == [(OP_TEXT, b"hi")]


def test_frame_reader_refuses_masked_server_frames():
    with pytest.raises(WireError):
        list(FrameReader().feed(client_frame(b"x")))


def test_close_frame_comes_out_with_its_code():
    frames = list(FrameReader().feed(server_frame(struct.pack("!H", 1001) + b"bye", OP_CLOSE)))
    assert frames == [(OP_CLOSE, b"\x03\xe9bye")]


def test_upgrade_response_waits_for_the_whole_head_and_reads_the_status():
    assert parse_upgrade_response(b"HTTP/1.1 403 Forbidden\r\n") == (None, b"HTTP/1.1 403 Forbidden\r\n")
    assert parse_upgrade_response(b"HTTP/1.1 403 Forbidden\r\n\r\n")[0] == 403
    with pytest.raises(WireError):
        parse_upgrade_response(b"garbage\r\n\r\n")


def test_upgrade_request_is_an_http11_websocket_get():
    req = upgrade_request("127.0.0.1", 4000, "/socket/websocket?vsn=2.0.0").decode()
    lines = req.split("\r\n")
    assert lines[0] == "GET /socket/websocket?vsn=2.0.0 HTTP/1.1"
    assert "Upgrade: websocket" in lines and "Sec-WebSocket-Version: 13" in lines
    assert req.endswith("\r\n\r\n")


def test_phoenix_messages_are_v2_arrays():
    def body(frame):
        return json.loads(frame[6:])
    assert body(phx.join("room:x", "1")) == ["1", "1", "room:x", "phx_join", {}]
    assert body(phx.leave("room:x", "1", "2")) == ["1", "2", "room:x", "phx_leave", {}]
    assert body(phx.push("room:x", "1", "3", "new_msg", {"body": "m"})) == \
        ["1", "3", "room:x", "new_msg", {"body": "m"}]
    assert phx.decode(b'[null,null,"t","e",{}]') == [None, None, "t", "e", {}]
    with pytest.raises(WireError):
        phx.decode(b'{"not": "an array"}')


def test_engineio_packets():
    assert eio.PONG[6:] == b"3" and eio.CONNECT[6:] == b"40"
    assert eio.emit("join", "lobby", ack=1)[6:] == b'421["join","lobby"]'
    assert eio.emit("new_msg", {"body": "b"})[6:] == b'42["new_msg",{"body":"b"}]'
    assert eio.ack_id(b'431[{"messages":[]}]') == 1
    assert eio.ack_id(b'42["x"]') is None
    assert eio.ack_data(b'4312[{"a":1}]') == [{"a": 1}]


def test_percentiles_are_nearest_rank():
    xs = list(range(1, 101))
    assert percentiles(xs) == {"n": 100, "p50": 50, "p99": 99, "max": 100}
    assert percentiles([5.0]) == {"n": 1, "p50": 5.0, "p99": 5.0, "max": 5.0}
    assert percentiles([]) == {"n": 0, "p50": None, "p99": None, "max": None}
