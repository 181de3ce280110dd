"""The wire serializers: spec vectors, round trips, every bad input, fuzz.

Vectors are the frames captured from the real ``phoenix`` JS client
(shared/reference/phoenix-wire-protocol.md, sections 5 and 7).  Behaviour
shared by both formats runs once per serializer through the ``serializer``
fixture; ``frame_of`` writes a Python value in that serializer's framing so
the same bad arrays reach both decoders.
"""
import json

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beamish.channels import (Broadcast, Message, MsgpackSerializer, ProtocolError, Reply,
                              Serializer, V2JSONSerializer)
from beamish.channels.wire import VSN_JSON, VSN_MSGPACK, Opcode, opcode_of, serializer_for_vsn

JSON = V2JSONSerializer()
MSGPACK = MsgpackSerializer()
TEXT, BINARY = Opcode.TEXT, Opcode.BINARY
LOBBY = b"room:lobby"


@pytest.fixture(scope="module", params=[JSON, MSGPACK], ids=["json", "msgpack"])
def serializer(request):
    return request.param


def frame_of(serializer, value):
    """``value`` framed as ``serializer``'s clients frame it: (data, opcode)."""
    if serializer.name == "json":
        return json.dumps(value), TEXT
    return msgpack.packb(value), BINARY


# -- spec vectors: client to server ------------------------------------------

CLIENT_FRAMES = [
    ('["6","6","room:lobby","phx_join",{"nick":"carol"}]',
     Message("6", "6", "room:lobby", "phx_join", {"nick": "carol"})),
    ('["9","9","room:forbidden","phx_join",{}]', Message("9", "9", "room:forbidden", "phx_join", {})),
    ('["6","10","room:lobby","new_msg",{"body":"hi"}]', Message("6", "10", "room:lobby", "new_msg", {"body": "hi"})),
    ('["9","12","room:forbidden","phx_leave",{}]', Message("9", "12", "room:forbidden", "phx_leave", {})),
    ('[null,"13","phoenix","heartbeat",{}]', Message(None, "13", "phoenix", "heartbeat", {})),
    ('["6","16","room:lobby","phx_leave",{}]', Message("6", "16", "room:lobby", "phx_leave", {})),
    ('["21","24","room:a","phx_leave",{}]', Message("21", "24", "room:a", "phx_leave", {})),
    ('["25","25","room:a","phx_join",{}]', Message("25", "25", "room:a", "phx_join", {})),
    ('["6","30","room:nope","ping",{}]', Message("6", "30", "room:nope", "ping", {})),
]

# The captured binary push: push("upload", <de ad be ef>), join_ref "6", ref "11".
CLIENT_BINARY_PUSH = bytes.fromhex("0001020a06") + b"6" + b"11" + LOBBY + b"upload" + bytes.fromhex("deadbeef")
UPLOAD = Message("6", "11", "room:lobby", "upload", b"\xde\xad\xbe\xef")


@pytest.mark.parametrize("text, message", CLIENT_FRAMES)
def test_client_text_frames_from_the_js_client_decode_to_messages(text, message):
    assert JSON.decode(text, TEXT) == message
    assert JSON.decode(text.encode(), TEXT) == message, "UTF-8 bytes with the text opcode too"


@pytest.mark.parametrize("text, message", CLIENT_FRAMES)
def test_client_encode_writes_the_js_clients_exact_text_frames(text, message):
    assert JSON.client_encode(message) == text


def test_binary_push_from_the_js_client_decodes_to_a_bytes_payload():
    assert JSON.decode(CLIENT_BINARY_PUSH, BINARY) == UPLOAD
    assert JSON.decode(bytearray(CLIENT_BINARY_PUSH), BINARY) == UPLOAD
    assert JSON.decode(memoryview(CLIENT_BINARY_PUSH), BINARY) == UPLOAD


def test_client_encode_writes_the_js_clients_exact_binary_push():
    assert JSON.client_encode(UPLOAD) == CLIENT_BINARY_PUSH


# -- spec vectors: server to client ------------------------------------------

REPLIES = [
    (Reply("6", "6", "room:lobby", "ok", {"welcome": True}),
     '["6","6","room:lobby","phx_reply",{"status":"ok","response":{"welcome":true}}]'),
    (Reply("9", "9", "room:forbidden", "error", {"reason": "unauthorized"}),
     '["9","9","room:forbidden","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]'),
    (Reply("6", "10", "room:lobby", "ok", {"echoed": "hi"}),
     '["6","10","room:lobby","phx_reply",{"status":"ok","response":{"echoed":"hi"}}]'),
    (Reply(None, "13", "phoenix", "ok", {}), '[null,"13","phoenix","phx_reply",{"status":"ok","response":{}}]'),
    (Reply("6", "16", "room:lobby", "ok", {}), '["6","16","room:lobby","phx_reply",{"status":"ok","response":{}}]'),
    (Reply(None, "30", "room:nope", "error", {"reason": "unmatched topic"}),
     '[null,"30","room:nope","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]'),
]
PUSHES = [
    (Message("6", "6", "room:lobby", "phx_close", {}), '["6","6","room:lobby","phx_close",{}]'),
    (Message("8", "8", "room:a", "phx_error", {"reason": "channel_crash"}),
     '["8","8","room:a","phx_error",{"reason":"channel_crash"}]'),
    (Message("6", None, "room:lobby", "presence_state",
             {"alice": {"metas": [{"phx_ref": "F-aaaaaaaaaaaaaa", "device": "desktop"}]}}),
     '["6",null,"room:lobby","presence_state",'
     '{"alice":{"metas":[{"phx_ref":"F-aaaaaaaaaaaaaa","device":"desktop"}]}}]'),
]
BROADCASTS = [
    (Broadcast("room:lobby", "new_msg", {"body": "hi", "user": "alice"}),
     '[null,null,"room:lobby","new_msg",{"body":"hi","user":"alice"}]'),
    (Broadcast("room:lobby", "presence_diff",
               {"joins": {"bob": {"metas": [{"phx_ref": "F-bbbbbbbbbbbbbb", "device": "phone"}]}}, "leaves": {}}),
     '[null,null,"room:lobby","presence_diff",'
     '{"joins":{"bob":{"metas":[{"phx_ref":"F-bbbbbbbbbbbbbb","device":"phone"}]}},"leaves":{}}]'),
]


@pytest.mark.parametrize("reply, text", REPLIES)
def test_replies_encode_to_the_exact_phx_reply_frames_of_the_spec(reply, text):
    assert JSON.encode_reply(reply) == text
    assert JSON.client_decode(text, TEXT) == reply


@pytest.mark.parametrize("message, text", PUSHES)
def test_pushes_encode_to_the_exact_frames_of_the_spec(message, text):
    assert JSON.encode_push(message) == text
    assert JSON.client_decode(text, TEXT) == message


@pytest.mark.parametrize("broadcast, text", BROADCASTS)
def test_fastlane_encodes_broadcasts_with_null_refs_exactly_as_the_spec(broadcast, text):
    assert JSON.fastlane(broadcast) == text
    assert JSON.client_decode(text, TEXT) == Message(None, None, broadcast.topic, broadcast.event, broadcast.payload)


def test_binary_reply_is_the_frame_the_js_client_accepted():
    expected = bytes.fromhex("0101020a02") + b"6" + b"11" + LOBBY + b"ok" + bytes.fromhex("deadbeef")
    reply = Reply("6", "11", "room:lobby", "ok", b"\xde\xad\xbe\xef")
    assert JSON.encode_reply(reply) == expected
    assert JSON.client_decode(expected, BINARY) == reply


def test_binary_broadcast_is_the_frame_the_js_client_accepted():
    expected = bytes.fromhex("020a09") + LOBBY + b"bin_bcast" + bytes.fromhex("010203")
    assert JSON.fastlane(Broadcast("room:lobby", "bin_bcast", b"\x01\x02\x03")) == expected
    assert JSON.client_decode(expected, BINARY) == Message(None, None, "room:lobby", "bin_bcast", b"\x01\x02\x03")


def test_binary_server_push_has_a_four_byte_header_and_no_ref():
    expected = bytes.fromhex("00010a04") + b"6" + LOBBY + b"file" + b"\x00\xff"
    message = Message("6", None, "room:lobby", "file", b"\x00\xff")
    assert JSON.encode_push(message) == expected
    assert JSON.client_decode(expected, BINARY) == message


def test_bytes_like_payloads_encode_like_bytes():
    for payload in (bytearray(b"\x01\x02"), memoryview(b"\x01\x02")):
        assert JSON.fastlane(Broadcast("t", "e", payload)) == JSON.fastlane(Broadcast("t", "e", b"\x01\x02"))
        assert MSGPACK.fastlane(Broadcast("t", "e", payload)) == MSGPACK.fastlane(Broadcast("t", "e", b"\x01\x02"))


def test_a_null_join_ref_is_an_empty_field_in_binary_frames():
    frame = JSON.encode_reply(Reply(None, "7", "t", "ok", b""))
    assert frame == bytes.fromhex("0100010102") + b"7tok"
    assert JSON.client_decode(frame, BINARY) == Reply(None, "7", "t", "ok", b"")
    empty_refs = bytes.fromhex("0000000101") + b"te"
    assert JSON.decode(empty_refs, BINARY) == Message(None, None, "t", "e", b"")


def test_text_frames_are_compact_and_keep_non_ascii_characters():
    frame = JSON.fastlane(Broadcast("room:ü", "msg", {"body": "héllo ☃ 😀", "n": [1, 2.5, None, False]}))
    assert frame == '[null,null,"room:ü","msg",{"body":"héllo ☃ 😀","n":[1,2.5,null,false]}]'


def test_msgpack_frames_are_the_packed_five_element_array():
    assert MSGPACK.fastlane(Broadcast("room:lobby", "new_msg", {"body": "hi"})) == msgpack.packb(
        [None, None, "room:lobby", "new_msg", {"body": "hi"}])
    assert MSGPACK.encode_reply(Reply("6", "6", "room:lobby", "ok", {"welcome": True})) == msgpack.packb(
        ["6", "6", "room:lobby", "phx_reply", {"status": "ok", "response": {"welcome": True}}])
    assert MSGPACK.encode_push(Message("6", None, "t", "file", b"\x00\xff")) == msgpack.packb(
        ["6", None, "t", "file", b"\x00\xff"], use_bin_type=True)
    join = msgpack.packb(["6", "6", "room:lobby", "phx_join", {"nick": "carol"}])
    assert MSGPACK.decode(join, BINARY) == Message("6", "6", "room:lobby", "phx_join", {"nick": "carol"})


def test_msgpack_payloads_may_hold_bytes_anywhere():
    message = Message("6", "11", "room:lobby", "upload", {"name": "a.bin", "data": b"\xde\xad"})
    assert MSGPACK.decode(MSGPACK.client_encode(message), BINARY) == message
    reply = Reply("6", "11", "room:lobby", "ok", b"\xbe\xef")
    assert MSGPACK.client_decode(MSGPACK.encode_reply(reply), BINARY) == reply


def test_frames_carry_their_opcode_in_their_type():
    assert opcode_of(JSON.fastlane(Broadcast("t", "e", {}))) is TEXT
    assert opcode_of(JSON.fastlane(Broadcast("t", "e", b""))) is BINARY
    assert opcode_of(MSGPACK.fastlane(Broadcast("t", "e", {}))) is BINARY
    assert (TEXT, BINARY) == (1, 2), "the RFC 6455 values, equal to wsproto's Opcode"


def test_longer_arrays_are_accepted_and_extra_elements_ignored(serializer):
    data, opcode = frame_of(serializer, ["1", "2", "t", "e", {}, "extra", 7])
    assert serializer.decode(data, opcode) == Message("1", "2", "t", "e", {})


# -- serializers as values ---------------------------------------------------


def test_both_serializers_implement_the_protocol(serializer):
    assert isinstance(serializer, Serializer)


def test_instances_of_a_serializer_are_interchangeable_cache_keys():
    assert V2JSONSerializer() == JSON and hash(V2JSONSerializer()) == hash(JSON)
    assert JSON != MSGPACK
    assert len({JSON, V2JSONSerializer(), MSGPACK, MsgpackSerializer()}) == 2


# -- version negotiation -----------------------------------------------------


def test_vsn_2_0_0_selects_v2_json():
    assert serializer_for_vsn("2.0.0") == JSON
    assert serializer_for_vsn(VSN_JSON).vsn == VSN_JSON == "2.0.0"


def test_any_2_0_x_vsn_selects_v2_json_as_phoenix_does():
    assert serializer_for_vsn("2.0.7") == JSON
    assert serializer_for_vsn("2.0.12") == JSON


def test_msgpack_vsn_selects_msgpack():
    assert serializer_for_vsn("2.0.0-msgpack") == MSGPACK
    assert serializer_for_vsn(VSN_MSGPACK).vsn == VSN_MSGPACK


@pytest.mark.parametrize("vsn", [
    None, "", "1.0.0", "2.1.0", "3.0.0", "2.0", "2", "2.0.0.0", "2.0.01", " 2.0.0", "2.0.0\n",
    "2.0.0-beta", "2.0.0+msgpack", "2.0.0-MSGPACK", "2.0.٣", "v2.0.0", 2, ["2.0.0"],
])
def test_unknown_vsn_selects_no_serializer(vsn):
    assert serializer_for_vsn(vsn) is None


def test_absent_vsn_selects_no_serializer_because_it_means_v1():
    assert serializer_for_vsn(None) is None


# -- bad input: shared by both formats ---------------------------------------

BAD_ARRAYS = [
    ({"topic": "t"}, "must be an array"),
    ("text", "must be an array"),
    (5, "must be an array"),
    (None, "must be an array"),
    ([], "has 0 elements, expected 5"),
    (["1", "1", "t", "e"], "has 4 elements, expected 5"),
    ([1, "1", "t", "e", {}], "join_ref must be a string or null, got number"),
    ([["1"], "1", "t", "e", {}], "join_ref must be a string or null, got array"),
    (["1", 1, "t", "e", {}], "ref must be a string or null, got number"),
    (["1", True, "t", "e", {}], "ref must be a string or null, got boolean"),
    (["1", "1", None, "e", {}], "topic must be a string, got null"),
    (["1", "1", 3, "e", {}], "topic must be a string, got number"),
    (["1", "1", "t", None, {}], "event must be a string, got null"),
    (["1", "1", "t", {}, {}], "event must be a string, got object"),
    (["1", "1", "t", "e", None], "payload of event 'e' on topic 't' must be"),
    (["1", "1", "t", "e", []], "must be an object"),
    (["1", "1", "t", "e", "hi"], "got string"),
    (["1", "1", "t", "e", 1.5], "got number"),
]


@pytest.mark.parametrize("value, error", BAD_ARRAYS)
def test_malformed_arrays_raise_protocol_error_naming_the_problem(serializer, value, error):
    data, opcode = frame_of(serializer, value)
    with pytest.raises(ProtocolError, match=error.replace("[", r"\[")):
        serializer.decode(data, opcode)


@pytest.mark.parametrize("value, error", BAD_ARRAYS)
def test_client_decode_refuses_the_same_malformed_arrays(serializer, value, error):
    data, opcode = frame_of(serializer, value)
    with pytest.raises(ProtocolError):
        serializer.client_decode(data, opcode)


@pytest.mark.parametrize("payload", [{"status": "ok"}, {"response": {}}, {"status": 1, "response": {}},
                                     {"status": "ok", "response": [1]}])
def test_client_decode_refuses_a_phx_reply_without_status_and_response(serializer, payload):
    data, opcode = frame_of(serializer, ["1", "1", "t", "phx_reply", payload])
    with pytest.raises(ProtocolError, match="phx_reply on topic 't' must carry"):
        serializer.client_decode(data, opcode)


def test_peer_strings_in_errors_are_cut_short(serializer):
    data, opcode = frame_of(serializer, ["1", "1", "t" * 10_000, "e", []])
    with pytest.raises(ProtocolError) as info:
        serializer.decode(data, opcode)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("opcode", [0, 8, 9, 10, 3, None, "text"])
def test_control_and_unknown_opcodes_are_refused(serializer, opcode):
    with pytest.raises(ProtocolError, match="opcode"):
        serializer.decode(b"\x95\xc0\xc0\xa1t\xa1e\x80", opcode)


# -- bad input: JSON text frames ---------------------------------------------


@pytest.mark.parametrize("data, error", [
    ("", "not valid JSON"),
    ("[", "not valid JSON"),
    ('["1","1","t","e",{}', "not valid JSON"),
    ("['1','1','t','e',{}]", "not valid JSON"),
    ('["1","1","t","e",{}] x', "not valid JSON"),
    ('["1","1","t","e",{"n":NaN}]', "NaN is not valid JSON"),
    ('["1","1","t","e",{"n":-Infinity}]', "-Infinity is not valid JSON"),
    ('["1","1","t","e",{"n":1e999}]', "out of range"),
    ('["1","1","t","e",{"n":' + "9" * 5000 + "}]", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('\ufeff["1","1","t","e",{}]', "not valid JSON"),
    (b'["1","1","t","e",{"s":"\xff"}]', "not valid UTF-8"),
    (b'["1","1","t","e",{"s":"\xed\xa0\x80"}]', "not valid UTF-8"),
    (b'\xff\xfe[\x00]\x00', "not valid UTF-8"),
    ('["1","1","t","e",{"s":"\\ud800"}]', "lone UTF-16 surrogate"),
    ('["1","1","\\udfff","e",{}]', "lone UTF-16 surrogate"),
    ('["1","1","t","e",{"s":"\ud800"}]', "lone UTF-16 surrogate"),
    (12, "must be str or bytes"),
])
def test_bad_text_frames_raise_protocol_error(data, error):
    with pytest.raises(ProtocolError, match=error):
        JSON.decode(data, TEXT)


def test_paired_surrogate_escapes_are_one_valid_character():
    message = JSON.decode('["1","1","t","e",{"s":"\\ud83d\\ude00 \\u00e9"}]', TEXT)
    assert message.payload == {"s": "😀 é"}


# -- bad input: binary frames ------------------------------------------------


@pytest.mark.parametrize("data, error", [
    (b"", "binary frame is empty"),
    (b"\x00", "1 bytes, shorter than its 5-byte header"),
    (b"\x00\x01\x01\x01", "4 bytes, shorter than its 5-byte header"),
    (b"\x01\x00\x00\x00\x00", r"kind 1 \(reply\) is not valid in this direction"),
    (b"\x02\x00\x00", r"kind 2 \(broadcast\) is not valid in this direction"),
    (b"\x03\x00\x00\x00\x00", "unknown kind byte 3"),
    (b"\xff\x00\x00\x00\x00", "unknown kind byte 255"),
    (b'["1","1","t","e",{}]', r"unknown kind byte 91 \(JSON text sent as a binary frame\?\)"),
    (b"\x00\x02\x00\x00\x00" + b"6", "join_ref length 2 overflows the 6-byte frame"),
    (b"\x00\x01\x09\x00\x00" + b"611", "ref length 9 overflows"),
    (b"\x00\x01\x02\x0b\x06" + b"611room:lobby", "topic length 11 overflows"),
    (b"\x00\x01\x02\x0a\xff" + b"611room:lobbyupload", "event length 255 overflows"),
    (b"\x00\x01\x00\x01\x01" + b"\xff" + b"te", "join_ref is not valid UTF-8"),
    (b"\x00\x00\x01\x01\x01" + b"\xc3" + b"te", "ref is not valid UTF-8"),
    (b"\x00\x00\x00\x02\x01" + b"\xc3\x28" + b"e", "topic is not valid UTF-8"),
    (b"\x00\x00\x00\x01\x03" + b"t" + b"\xed\xa0\x80", "event is not valid UTF-8"),
    ("\x00\x00\x00\x01\x01te", "a binary frame must be bytes, got str"),
])
def test_bad_binary_frames_raise_protocol_error(data, error):
    with pytest.raises(ProtocolError, match=error):
        JSON.decode(data, BINARY)


@pytest.mark.parametrize("data, error", [
    (b"\x00\x01\x01", "3 bytes, shorter than its 4-byte header"),
    (b"\x01\x00\x00\x01", "4 bytes, shorter than its 5-byte header"),
    (b"\x02\x01", "2 bytes, shorter than its 3-byte header"),
    (b"\x02\x05\x00abc", "topic length 5 overflows"),
    (b"\x07", "unknown kind byte 7"),
])
def test_client_decode_refuses_bad_server_binary_frames(data, error):
    with pytest.raises(ProtocolError, match=error):
        JSON.client_decode(data, BINARY)


def test_binary_payload_is_the_whole_rest_of_the_frame_even_if_empty():
    assert JSON.decode(b"\x00\x00\x00\x01\x01te", BINARY).payload == b""
    assert JSON.decode(b"\x00\x00\x00\x01\x01te\x00\x00", BINARY).payload == b"\x00\x00"


# -- bad input: msgpack frames -----------------------------------------------


@pytest.mark.parametrize("data, opcode, error", [
    (msgpack.packb(["1", "1", "t", "e", {}]), TEXT, "msgpack frames must use opcode 2"),
    ('["1","1","t","e",{}]', TEXT, "msgpack frames must use opcode 2"),
    ("\x95", BINARY, "a binary frame must be bytes, got str"),
    (b"", BINARY, "not valid msgpack"),
    (b"\xc1", BINARY, "not valid msgpack"),
    (b"\x95\xc0\xc0\xa1t", BINARY, "not valid msgpack"),
    (msgpack.packb(["1", "1", "t", "e", {}]) + b"\x00", BINARY, "not valid msgpack"),
    (msgpack.packb(["1", "1", "t", "e", {"x": msgpack.ExtType(5, b"")}]), BINARY, "extension type 5"),
    (msgpack.packb(["1", "1", "t", "e", {1: "x"}]), BINARY, "not valid msgpack"),
    (b"\x95\xc0\xc0\xa1\xff\xa1e\x80", BINARY, "not valid msgpack"),
    (b"\x91" * 100_000, BINARY, "not valid msgpack"),
    (msgpack.packb(["1", "1", b"t", "e", {}]), BINARY, "topic must be a string, got binary"),
])
def test_bad_msgpack_frames_raise_protocol_error(data, opcode, error):
    with pytest.raises(ProtocolError, match=error):
        MSGPACK.decode(data, opcode)


# -- encoding refuses what the wire cannot carry -----------------------------


class Opaque:
    pass


@pytest.mark.parametrize("payload, error", [
    ([1, 2], "must be an object or bytes, got array"),
    ("hi", "must be an object or bytes, got string"),
    (None, "must be an object or bytes, got null"),
    ({"x": Opaque()}, "serialize.*Opaque|Opaque is not JSON serializable"),
])
def test_encoders_refuse_payloads_the_format_cannot_carry(serializer, payload, error):
    with pytest.raises(ProtocolError, match=error):
        serializer.fastlane(Broadcast("t", "e", payload))
    with pytest.raises(ProtocolError):
        serializer.encode_push(Message("1", None, "t", "e", payload))
    with pytest.raises(ProtocolError):
        serializer.encode_reply(Reply("1", "1", "t", "ok", payload))
    with pytest.raises(ProtocolError):
        serializer.client_encode(Message("1", "1", "t", "e", payload))


def test_json_encoding_refuses_keys_json_cannot_carry():
    with pytest.raises(ProtocolError, match="keys must be str"):
        JSON.fastlane(Broadcast("t", "e", {(1, 2): "tuple key"}))


def test_json_encoding_refuses_nan_and_infinity():
    with pytest.raises(ProtocolError, match="Out of range float"):
        JSON.fastlane(Broadcast("t", "e", {"x": float("nan")}))


def test_encoders_refuse_values_nested_too_deeply_or_circular(serializer):
    circular = {}
    circular["self"] = circular
    with pytest.raises(ProtocolError):
        serializer.fastlane(Broadcast("t", "e", circular))


def test_msgpack_encoding_refuses_integers_beyond_64_bits():
    with pytest.raises(ProtocolError, match="out of range"):
        MSGPACK.fastlane(Broadcast("t", "e", {"n": 2 ** 64}))


def test_binary_fields_longer_than_255_utf8_bytes_are_refused():
    JSON.fastlane(Broadcast("t" * 255, "e", b""))  # the limit itself is fine
    with pytest.raises(ProtocolError, match="topic 'ttt.* is 256 bytes in UTF-8; binary frames allow at most 255"):
        JSON.fastlane(Broadcast("t" * 256, "e", b""))
    with pytest.raises(ProtocolError, match="status .* is 256 bytes"):
        JSON.encode_reply(Reply("1", "1", "t", "é" * 128, b""))


def test_binary_fields_must_be_strings_and_valid_unicode():
    with pytest.raises(ProtocolError, match="event must be a string, got null"):
        JSON.fastlane(Broadcast("t", None, b""))
    with pytest.raises(ProtocolError, match="topic must be a string, got number"):
        JSON.encode_push(Message("1", None, 7, "e", b""))
    with pytest.raises(ProtocolError, match="not encodable as UTF-8"):
        JSON.fastlane(Broadcast("\ud800", "e", b""))


def test_a_binary_push_cannot_carry_a_ref():
    with pytest.raises(ProtocolError, match="a binary push has no ref field"):
        JSON.encode_push(Message("6", "7", "t", "e", b"\x00"))


# -- round trips -------------------------------------------------------------

refs = st.none() | st.text(max_size=20).filter(lambda s: s != "")
names = st.text(min_size=1, max_size=40)
events = names.filter(lambda name: name != "phx_reply")  # a client decodes that one as a Reply
json_leaves = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
payloads = objects | st.binary(max_size=64)


@settings(max_examples=100)
@given(join_ref=refs, ref=refs, topic=names, event=names, payload=payloads)
def test_client_messages_round_trip_through_the_server_decoder(serializer, join_ref, ref, topic, event, payload):
    message = Message(join_ref, ref, topic, event, payload)
    frame = serializer.client_encode(message)
    assert serializer.decode(frame, opcode_of(frame)) == message


@settings(max_examples=100)
@given(join_ref=refs, ref=refs, topic=names, status=names, response=payloads)
def test_replies_round_trip_through_the_client_decoder(serializer, join_ref, ref, topic, status, response):
    reply = Reply(join_ref, ref, topic, status, response)
    frame = serializer.encode_reply(reply)
    assert serializer.client_decode(frame, opcode_of(frame)) == reply


@settings(max_examples=100)
@given(join_ref=refs, topic=names, event=events, payload=payloads)
def test_pushes_and_broadcasts_round_trip_through_the_client_decoder(serializer, join_ref, topic, event, payload):
    push = Message(join_ref, None, topic, event, payload)
    frame = serializer.encode_push(push)
    assert serializer.client_decode(frame, opcode_of(frame)) == push
    frame = serializer.fastlane(Broadcast(topic, event, payload))
    assert serializer.client_decode(frame, opcode_of(frame)) == Message(None, None, topic, event, payload)


# -- fuzz: decoding raises ProtocolError and nothing else --------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()))
opcodes = st.sampled_from([TEXT, BINARY, 0, 8, 9, 10]) | st.integers()
junk = st.binary(max_size=300) | any_text
json_arrays = st.lists(json_values | st.binary(max_size=8), max_size=7)


def decodes_or_refuses(decode, data, opcode):
    try:
        result = decode(data, opcode)
    except ProtocolError:
        return
    assert isinstance(result, (Message, Reply))


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(FUZZ, max_examples=2000)
@given(data=junk, opcode=opcodes)
def test_decode_of_arbitrary_input_raises_only_protocol_error(data, opcode):
    for serializer in (JSON, MSGPACK):
        decodes_or_refuses(serializer.decode, data, opcode)
        decodes_or_refuses(serializer.client_decode, data, opcode)


@FUZZ
@given(kind=st.integers(0, 3), header=st.lists(st.integers(0, 255), max_size=5), rest=st.binary(max_size=40))
def test_decode_of_near_valid_binary_frames_raises_only_protocol_error(kind, header, rest):
    data = bytes([kind, *header]) + rest
    decodes_or_refuses(JSON.decode, data, BINARY)
    decodes_or_refuses(JSON.client_decode, data, BINARY)


@FUZZ
@given(value=json_arrays | json_values)
def test_decode_of_arbitrary_json_and_msgpack_values_raises_only_protocol_error(value):
    text = json.dumps(value, default=lambda b: b.hex())
    for decode in (JSON.decode, JSON.client_decode):
        decodes_or_refuses(decode, text, TEXT)
        decodes_or_refuses(decode, text.encode(), TEXT)
    packed = msgpack.packb(value)
    for decode in (MSGPACK.decode, MSGPACK.client_decode):
        decodes_or_refuses(decode, packed, BINARY)
