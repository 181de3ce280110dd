"""Delta generations and transfer answers (beamish.presence._delta_generation)."""
from beamish.presence import (Delta, Extract, Replica, State, clocks, delta_size, join, leave,
                              merge, merge_deltas, online_list, replica_up, reset_delta)
from beamish.presence._delta_generation import extract, push, remove_down_replicas

A, B, C = Replica("a", 1), Replica("b", 1), Replica("c", 1)


def cluster(*replicas):
    states = [State(r) for r in replicas]
    for s in states:
        for r in replicas:
            replica_up(s, r)
    return states


def deltas_of(state, pids):
    """One delta per pid joined."""
    out = []
    for pid in pids:
        join(state, pid, "room", pid, {})
        out.append(reset_delta(state)[1])
    return out


def test_merging_touching_deltas_covers_both_ranges():
    a = State(A)
    d1, d2 = deltas_of(a, ["p1", "p2"])
    m = merge_deltas(d1, d2)
    assert (m.start, m.end) == ({A: 0}, {A: 2})
    assert sorted(m.values) == [(A, 1), (A, 2)] and m.clouds == {A: {1, 2}}
    assert merge_deltas(d2, d1).values == m.values
    assert delta_size(m) == 4
    assert list(d1.values) == [(A, 1)], "inputs are left alone"


def test_merging_deltas_with_a_gap_is_refused():
    a = State(A)
    d1, _, d3 = deltas_of(a, ["p1", "p2", "p3"])
    assert merge_deltas(d1, d3) is None
    assert merge_deltas(d3, d1) is None


def test_deltas_of_different_replicas_always_merge():
    a, b = State(A), State(B)
    (da,), (db,) = deltas_of(a, ["p1"]), deltas_of(b, ["p2"])
    m = merge_deltas(da, db)
    assert (m.start, m.end) == ({A: 0, B: 0}, {A: 1, B: 1})


def test_a_merged_delta_drops_an_entry_the_newer_delta_removed():
    a = State(A)
    (d1,) = deltas_of(a, ["p1"])
    leave(a, "p1", "room", "p1")
    d2 = reset_delta(a)[1]
    m = merge_deltas(d1, d2)
    assert m.values == {} and m.clouds == {A: {1, 2}} and m.end == {A: 2}


def test_the_first_push_starts_every_generation_at_the_delta():
    (d1,) = deltas_of(State(A), ["p1"])
    assert push([], d1, [2, 4]) == [d1, d1]


def test_a_generation_that_would_overflow_restarts_from_the_smaller_one():
    a = State(A)
    d1, d2, d3, d4 = deltas_of(a, ["p1", "p2", "p3", "p4"])  # each of size 2
    gens = push(push([], d1, [4, 6]), d2, [4, 6])
    assert [sorted(g.values) for g in gens] == [[(A, 1), (A, 2)]] * 2
    gens = push(gens, d3, [4, 6])
    assert gens[0] is d3, "gen 0 overflowed: it restarts at the delta alone"
    assert sorted(gens[1].values) == [(A, 1), (A, 2), (A, 3)]
    gens = push(gens, d4, [4, 6])
    assert sorted(gens[0].values) == [(A, 3), (A, 4)]
    assert gens[1] is gens[0], "gen 1 overflowed: it restarts from gen 0's merge"
    assert (gens[1].start, gens[1].end) == ({A: 2}, {A: 4})


def test_a_non_contiguous_delta_leaves_a_generation_unchanged():
    a = State(A)
    d1, _, d3 = deltas_of(a, ["p1", "p2", "p3"])
    gens = push([], d1, [100])
    assert push(gens, d3, [100]) == gens


def test_permdown_removes_a_replica_from_every_generation():
    a, b = State(A), State(B)
    (da,), (db,) = deltas_of(a, ["p1"]), deltas_of(b, ["p2"])
    gens = push(push([], da, [10, 10]), db, [10, 10])
    for g in remove_down_replicas(gens, B):
        assert list(g.values) == [(A, 1)] and g.clouds == {A: {1}}
        assert (g.start, g.end) == ({A: 0}, {A: 1})
    assert B in gens[0].clouds, "the old list is left alone"


def test_a_transfer_sends_the_smallest_generation_that_fills_the_gap():
    a, b, c = cluster(A, B, C)
    d1, d2, d3 = deltas_of(a, ["p1", "p2", "p3"])
    gens = []
    for d in (d1, d2, d3):
        gens = push(gens, d, [2, 100])
    merge(b, d1)
    merge(b, d2)
    answer = extract(a, gens, B, clocks(b)[1])
    assert isinstance(answer, Delta) and (answer.start, answer.end) == ({A: 2}, {A: 3})
    _, joins, _ = merge(b, answer)
    assert [e.tag for e in joins] == [(A, 3)]
    answer = extract(a, gens, C, clocks(c)[1])
    assert isinstance(answer, Delta) and (answer.start, answer.end) == ({A: 0}, {A: 3})
    merge(c, answer)
    for s in (b, c):
        assert online_list(s) == online_list(a) and s.context[A] == 3 and s.clouds == {}


def test_a_transfer_falls_back_to_the_full_state_when_no_generation_fills_the_gap():
    a, b = cluster(A, B)
    d1, d2, d3 = deltas_of(a, ["p1", "p2", "p3"])
    gens = push(push([], d2, [100]), d3, [100])
    answer = extract(a, gens, B, clocks(b)[1])
    assert isinstance(answer, Extract)
    merge(b, answer)
    assert online_list(b) == online_list(a)
    assert isinstance(extract(a, [], B, clocks(b)[1]), Extract)


def test_a_transfer_includes_own_changes_not_yet_sent():
    a, b = cluster(A, B)
    (d1,) = deltas_of(a, ["p1"])
    join(a, "p2", "room", "p2", {})
    answer = extract(a, push([], d1, [100]), B, clocks(b)[1])
    assert isinstance(answer, Delta) and sorted(answer.values) == [(A, 1), (A, 2)]


def test_a_generation_answer_leaves_out_the_requester_and_unknown_replicas():
    a, b, c = cluster(A, B, C)
    (da,), (db,), (dc,) = (deltas_of(s, [p]) for s, p in ((a, "pa"), (b, "pb"), (c, "pc")))
    gens = push(push(push([], da, [100]), db, [100]), dc, [100])
    answer = extract(a, gens, B, {B: 1, A: 0})
    assert list(answer.values) == [(A, 1)]
    assert set(answer.clouds) == {A, B} and set(answer.start) == {A, B}
