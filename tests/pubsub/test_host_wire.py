"""The host relay's framing: pure, fed bytes, no sockets."""
import pytest

from beamish.core._codec import decode, encode
from beamish.pubsub import _host_wire as wire


def test_hello_round_trips_version_channel_and_node():
    frame = wire.hello("chat", "chat-w1@host")
    assert wire.kind_of(frame) == wire.HELLO
    assert wire.parse_hello(frame) == (wire.VERSION, "chat", "chat-w1@host")
    assert wire.FrameReader().feed(frame) == [frame]


def test_broadcast_body_is_the_encoded_term_untouched():
    term = encode(("n1", "room:1", ("new_msg", {"body": "hi"}), "default", None))
    frame = wire.broadcast(term)
    assert wire.kind_of(frame) == wire.BROADCAST
    assert bytes(wire.body_of(frame)) == term
    assert decode(wire.body_of(frame))[2] == ("new_msg", {"body": "hi"})


def test_direct_carries_its_target_before_the_term():
    term = encode(("n1", "t", "m", "default", None))
    frame = wire.direct("chat-w2@host", term)
    assert wire.kind_of(frame) == wire.DIRECT
    assert wire.target_of(frame) == "chat-w2@host"
    assert bytes(wire.body_of(frame)) == term


def test_frames_split_anywhere_and_coalesced_are_reassembled_exactly():
    frames = [wire.broadcast(encode(i)) for i in range(50)] + [wire.broadcast(b"x" * 70_000)]
    data = b"".join(frames)
    for chunk in (1, 3, 4, 5, 7, 4096, len(data)):
        reader, got = wire.FrameReader(), []
        for i in range(0, len(data), chunk):
            got.extend(reader.feed(data[i:i + chunk]))
        assert got == frames and reader.pending == 0


def test_a_large_frame_in_small_pieces_is_buffered_until_complete():
    frame = wire.broadcast(b"y" * 1_000_000)
    reader = wire.FrameReader()
    for i in range(0, len(frame) - 1000, 65536):
        assert reader.feed(frame[i:min(i + 65536, len(frame) - 1000)]) == []
    assert reader.pending == len(frame) - 1000
    assert reader.feed(frame[len(frame) - 1000:]) == [frame]
    assert reader.pending == 0


@pytest.mark.parametrize("header", [b"\x00\x00\x00\x00", b"\x00\x00\x01\x01"])
def test_an_empty_or_oversized_length_is_refused_before_buffering(header):
    reader = wire.FrameReader(max_size=256)
    with pytest.raises(wire.FrameError, match="outside 1..256"):
        reader.feed(header)


def test_malformed_hellos_and_targets_raise_frame_error():
    with pytest.raises(wire.FrameError, match="expected a hello"):
        wire.parse_hello(wire.broadcast(b"x"))
    with pytest.raises(wire.FrameError, match="malformed hello"):   # channel cut short
        wire.parse_hello(b"\x00\x00\x00\x04H\x01\x04c")
    with pytest.raises(wire.FrameError, match="malformed hello"):   # no node name
        wire.parse_hello(b"\x00\x00\x00\x04H\x01\x01c")
    with pytest.raises(wire.FrameError, match="malformed direct"):
        wire.target_of(b"\x00\x00\x00\x03D\x09a")
    with pytest.raises(wire.FrameError, match="non-UTF-8"):
        wire.parse_hello(b"\x00\x00\x00\x06H\x01\x01c\xff\xfe")


def test_names_the_wire_cannot_carry_are_refused_when_framing():
    with pytest.raises(wire.FrameError, match="1 to 255 bytes"):
        wire.hello("", "n")
    with pytest.raises(wire.FrameError, match="1 to 255 bytes"):
        wire.direct("n" * 256, b"")


def test_only_this_version_is_spoken():
    assert wire.expect_version(wire.VERSION) is None
    assert "version 9" in wire.expect_version(9)
    assert len(wire.welcome()) == 6 and wire.kind_of(wire.welcome()) == wire.WELCOME
