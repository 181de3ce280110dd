"""Refs compare and hash by identity (C speed on the call path), which is
Erlang's value equality because a ref rebuilt from bytes (the codec,
pickle) or copied is the live ref of its node, id and creation."""
import copy
import pickle

from beamish import Ref, make_ref, receive, self, send
from beamish.lowlevel import decode_term, encode_term


def test_a_local_ref_back_from_bytes_is_the_live_ref_itself():
    ref = make_ref()
    assert decode_term(encode_term(ref)) is ref
    assert decode_term(encode_term(("reply", ref, [ref])))[1] is ref
    assert pickle.loads(pickle.dumps(ref)) is ref
    assert copy.copy(ref) is ref and copy.deepcopy({"k": ref})["k"] is ref
    send(self(), decode_term(encode_term((ref, "answer"))))
    msg = receive()
    assert msg[0] is ref and msg == (ref, "answer")


def test_a_foreign_ref_decoded_twice_is_one_object_while_it_lives():
    data = encode_term(Ref("other@host", 12, 345))   # the ref itself is gone after this
    a = decode_term(data)
    b = decode_term(data)
    assert a is b and a == b and hash(a) == hash(b)
    assert {a: "found"}[decode_term(data)] == "found"
    assert (a.node, a.id, a.creation) == ("other@host", 12, 345)


def test_refs_of_different_nodes_ids_or_creations_differ_and_order():
    refs = [Ref("x@h", 1, 1), Ref("y@h", 1, 1), Ref("x@h", 2, 1), Ref("x@h", 1, 2)]
    assert len(set(refs)) == 4
    assert all(a != b for i, a in enumerate(refs) for b in refs[i + 1:])
    assert Ref("x@h", 1, 1) is refs[0]
    assert sorted(refs) == sorted(refs, key=lambda r: (r.node, r.id, r.creation))
    local = [make_ref() for _ in range(3)]
    assert sorted(reversed(local)) == local
    assert make_ref() != make_ref()
