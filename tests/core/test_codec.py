from hypothesis import given, strategies as st

from beamish import Down, ExitMsg, Pid, make_ref, receive, self, send, spawn
from beamish.core._codec import CodecError, decode, encode
from beamish.testing import assert_receive

import pytest


def test_pids_refs_tuples_and_records_survive_the_trip():
    ref = make_ref()
    me = self()
    remote = Pid("other@host", 7, 99)
    term = {"who": me, "ref": ref, "t": (1, ("a", b"x"), [2, 3]), "r": remote,
            "down": Down(ref, me, "normal"), "exit": ExitMsg(me, ("shutdown", 1)),
            "s": frozenset({1, 2})}
    back = decode(encode(term))
    assert back == term
    assert back["who"] is me, "a local pid decodes to the live process's own pid"
    assert isinstance(back["t"], tuple) and isinstance(back["t"][2], list)
    assert back["r"].node == "other@host" and back["r"].creation == 99


def test_a_decoded_pid_can_be_sent_to():
    pid = spawn(lambda parent: send(parent, ("got", receive())), self())
    send(decode(encode(pid)), "hi")
    assert assert_receive(("got", "hi"))


def test_unencodable_terms_raise_codec_error():
    with pytest.raises(CodecError, match="object"):
        encode(object())


@given(st.binary(max_size=64))
def test_garbage_bytes_raise_only_codec_error(data):
    try:
        decode(data)
    except CodecError:
        pass


terms = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@given(terms)
def test_any_plain_term_round_trips(term):
    assert decode(encode(term)) == term


def test_registered_dataclasses_cross_and_unregistered_ones_are_refused():
    from dataclasses import dataclass
    from beamish.core._codec import register

    @dataclass(frozen=True)
    class Point:
        x: int
        y: tuple
    with pytest.raises(CodecError):
        encode(Point(1, (2,)))
    register(Point, "test.Point")
    assert decode(encode([Point(1, (2, 3))])) == [Point(1, (2, 3))]
