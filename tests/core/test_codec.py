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


# ------------------------------------------------------------ hostile input
# Bytes built by hand, as an attacker would: ext 3 (tuple), 4 (set) and 5
# (record) wrap one another, each level a one-item msgpack array.
_DEEP = '''
import sys
import msgpack
from beamish.core._codec import CodecError, decode, register
from dataclasses import dataclass

@dataclass(frozen=True)
class Box:
    inner: object
register(Box, "test.Box")

def wrap(kind, data):
    if kind == "tuple":
        return msgpack.packb(msgpack.ExtType(3, b"\\x91" + data))
    if kind == "set":
        return msgpack.packb(msgpack.ExtType(4, b"\\x91" + data))
    if kind == "record":
        return msgpack.packb(msgpack.ExtType(5, b"\\x92" + msgpack.packb("test.Box") + data))
    if kind == "list":
        return b"\\x91" + data
    if kind == "map":
        return b"\\x81\\x00" + data
    raise ValueError(kind)

def deep(kinds, levels):
    data = msgpack.packb(0)
    for i in range(levels):
        data = wrap(kinds[i % len(kinds)], data)
    return data

for arg in sys.argv[1:]:
    kinds, levels = arg.split(":")
    data = deep(kinds.split(","), int(levels))
    try:
        decode(data)
        print(arg, len(data), "decoded", flush=True)
    except CodecError as e:
        print(arg, len(data), "CodecError", e, flush=True)
'''


def _decode_in_subprocess(*cases):
    """Decode hand-built deep terms in a child interpreter, so a crash of the
    decoder (a C stack overflow is a SIGSEGV) fails the test instead of
    killing pytest.  Returns {case: (size, outcome)}."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _DEEP, *cases], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"the decoder died (rc {proc.returncode}): {proc.stderr[-500:]}"
    out = {}
    for line in proc.stdout.splitlines():
        case, size, outcome = line.split(" ", 2)
        out[case] = (int(size), outcome)
    return out


def test_deeply_nested_terms_raise_codec_error_and_never_crash():
    cases = ["tuple:300", "set:300", "record:300", "tuple,set,record:300",
             "tuple,list:600", "tuple,map:600", "list:5000", "map:5000", "tuple:20000"]
    out = _decode_in_subprocess(*cases)
    assert out["tuple:300"][0] < 1500, "about a kilobyte is all it takes"
    for case in cases:
        assert out[case][1].startswith("CodecError"), (case, out[case])
    assert "nested deeper than 32" in out["tuple:300"][1]


def test_terms_nested_up_to_the_limit_decode():
    out = _decode_in_subprocess("tuple:32", "tuple,set,record:32", "tuple,list:64")
    assert all(outcome == "decoded" for _, outcome in out.values()), out
    t = 0
    for _ in range(32):
        t = (t,)
    assert decode(encode(t)) == t
    with pytest.raises(CodecError, match="nested deeper than 32"):
        decode(encode((t,)))
    assert decode(encode((t,)), max_depth=33) == (t,)


def test_inputs_over_max_size_are_refused_before_decoding():
    data = encode(["x" * 1000])
    assert decode(data, max_size=len(data)) == ["x" * 1000]
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode(data, max_size=len(data) - 1)


def test_declared_lengths_beyond_the_input_are_refused():
    # An array header claiming 2**32-1 items in a 5-byte input: refused, no
    # allocation sized by the header.
    with pytest.raises(CodecError):
        decode(b"\xdd\xff\xff\xff\xff")
    with pytest.raises(CodecError):
        decode(b"\xc6\xff\xff\xff\xf0" + b"x" * 10)   # bin32 of ~4 GB
