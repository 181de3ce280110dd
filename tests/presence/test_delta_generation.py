"""Delta generations and transfer answers (beamish.presence._delta_generation)."""
from beamish.presence.crdt import (Delta, Extract, Replica, State, clocks, delta_size, get_by_topic,
                                   join, leave, leave_pid, merge, merge_deltas, online_list,
                                   replica_up, reset_delta)
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


# ------------------------------------------------------------------------------------------
# The cases of Phoenix's delta_generation_test.exs, one test each, in beamish's terms.

def content(delta):
    """A delta as comparable plain data (Delta compares by identity)."""
    return (delta.values, delta.clouds, delta.start, delta.end)


def keys(delta):
    return sorted(e.key for e in delta.values.values())


def dots(delta):
    return sorted((r.name, n) for r, ns in delta.clouds.items() for n in ns)


def test_generations_keep_windows_of_the_newest_deltas_within_their_limits():
    """Phoenix "generations": limits 2, 5 and 6 and deltas of size 2 each.

    An overflowing generation restarts from the previous generation merged
    with the new delta, so the three windows hold the last 1, 2 and 3 deltas;
    a duplicate push changes nothing; remote deltas and tombstones enter
    the windows like own ones.
    """
    sizes = [2, 5, 6]
    s1, s2 = State(A), State(B)
    join(s1, "pid1", "lobby", "user1", {})
    d = reset_delta(s1)[1]
    gens = push([], d, sizes)
    assert gens == [d, d, d] and keys(d) == ["user1"] and dots(d) == [("a", 1)]
    assert [content(g) for g in push(gens, d, sizes)] == [content(d)] * 3, "dup: no effect"

    join(s1, "pid2", "lobby", "user2", {})
    gens = push(gens, reset_delta(s1)[1], sizes)
    assert [keys(g) for g in gens] == [["user2"], ["user1", "user2"], ["user1", "user2"]]
    assert [dots(g) for g in gens] == [[("a", 2)], [("a", 1), ("a", 2)],
                                       [("a", 1), ("a", 2)]]

    join(s1, "pid3", "lobby", "user3", {})
    d3 = reset_delta(s1)[1]
    gens = push(gens, d3, sizes)
    assert gens[0] is d3
    assert [keys(g) for g in gens] == [["user3"], ["user2", "user3"],
                                       ["user1", "user2", "user3"]]
    assert [dots(g) for g in gens] == [[("a", 3)], [("a", 2), ("a", 3)],
                                       [("a", 1), ("a", 2), ("a", 3)]]

    join(s1, "pid4", "lobby", "user4", {})
    gens = push(gens, reset_delta(s1)[1], sizes)
    assert [keys(g) for g in gens] == [["user4"], ["user3", "user4"],
                                       ["user2", "user3", "user4"]]
    assert [dots(g) for g in gens] == [[("a", 4)], [("a", 3), ("a", 4)],
                                       [("a", 2), ("a", 3), ("a", 4)]]

    # remote deltas
    join(s2, "pid5", "lobby", "user5", {})
    gens = push(gens, s2.delta, sizes)
    assert [keys(g) for g in gens] == [["user5"], ["user4", "user5"],
                                       ["user3", "user4", "user5"]]
    assert [dots(g) for g in gens] == [[("b", 1)], [("a", 4), ("b", 1)],
                                       [("a", 3), ("a", 4), ("b", 1)]]

    # tombstones: the same (not yet reset) remote delta, now with user5's leave
    leave_pid(s2, "pid5")
    gens = push(gens, s2.delta, sizes)
    assert [keys(g) for g in gens] == [[], ["user4"], ["user3", "user4"]]
    assert [dots(g) for g in gens] == [[("b", 1), ("b", 2)], [("a", 4), ("b", 1), ("b", 2)],
                                       [("a", 3), ("a", 4), ("b", 1), ("b", 2)]]
    assert all(delta_size(g) <= limit for g, limit in zip(gens, sizes))


def test_generations_do_not_take_in_non_contiguous_deltas():
    """Phoenix "does not include non-contiguous deltas"."""
    s3 = State(C)
    join(s3, "pid1", "lobby", "user3", {})
    old = reset_delta(s3)[1]
    join(s3, "pid2", "lobby", "user3", {})
    reset_delta(s3)
    join(s3, "pid3", "lobby", "user3", {})
    gens = push([], old, [5, 10, 15])
    assert gens == [old, old, old]
    assert push(gens, s3.delta, [5, 10, 15]) == gens


def test_removing_a_down_replica_leaves_nothing_of_it_to_merge():
    """Phoenix "remove_down_replicas": a pruned generation brings a third
    replica (one that knows the pruned replica) nothing of it."""
    s2 = State(B)
    join(s2, "pid2", "lobby", "user2", {})
    gens = push([], s2.delta, [5, 10, 15])
    assert gens == [s2.delta] * 3
    pruned = remove_down_replicas(gens, B)
    assert all(content(p) == content(pruned[0]) for p in pruned)
    s3 = State(C)
    replica_up(s3, B)
    assert merge(s3, pruned[0])[1:] == ([], [])
    assert get_by_topic(s3, "lobby") == []
    assert [e.key for e in merge(State(C), gens[0])[1]] == [], "unknown replica: nothing"
    assert [e.key for e in merge(s3, gens[0])[1]] == ["user2"], "unpruned: it would join"


def test_the_whole_state_is_extracted_when_there_are_no_generations():
    """Phoenix "whole state is extracted if there are no deltas"."""
    s = State(A)
    join(s, "pid", "lobby", "user1", {})
    answer = extract(s, [], B, {A: 1})         # Phoenix's case: nothing missing
    assert isinstance(answer, Extract)
    assert answer.replica == A and answer.context == {A: 1} and answer.clouds == {}
    assert [(t, e.key) for t, e in answer.values.items()] == [((A, 1), "user1")]
    reset_delta(s)                             # heartbeated, so in no window any more
    answer = extract(s, [], B, {A: 0})
    assert isinstance(answer, Extract) and list(answer.values) == [(A, 1)]


def test_the_first_generation_filling_the_clock_is_extracted():
    """Phoenix "delta is extracted for the first delta with dominating clocks":
    a generation that ends where the requester already is gets skipped, and
    own changes not yet sent that alone fill the gap are sent alone."""
    s = State(A)
    join(s, "pid", "lobby", "user1", {})
    d2 = reset_delta(s)[1]
    join(s, "pid", "lobby", "user2", {})
    d3 = s.delta                                  # not heartbeated yet
    answer = extract(s, [d2, d3], B, {A: 1})
    assert isinstance(answer, Delta) and content(answer) == content(d3)
    reset_delta(s)                                # heartbeated: now only generations hold it
    answer = extract(s, [d2, d3], B, {A: 1})
    assert isinstance(answer, Delta) and content(answer) == content(d3)


def test_a_generation_with_nothing_for_the_requester_is_not_extracted():
    """Phoenix "an empty delta is not extracted": a generation that says
    nothing about the requester's replicas is passed over, and the one sent
    is cut down to those replicas."""
    a, b = State(A), State(B)
    replica_up(a, B)
    join(a, "pid", "lobby", "user1", {})
    d1 = reset_delta(a)[1]
    d2 = reset_delta(a)[1]                        # empty: range {A: 1}..{A: 1}
    join(b, "pid", "lobby", "user2", {})
    db = reset_delta(b)[1]
    merge(a, db)
    d3 = merge_deltas(d1, db)
    answer = extract(a, [d2, d3], C, {B: 0})
    assert isinstance(answer, Delta)
    assert [(t, e.key) for t, e in answer.values.items()] == [((B, 1), "user2")]
    assert (answer.clouds, answer.start, answer.end) == ({B: {1}}, {B: 0}, {B: 1})


def test_a_generation_not_ahead_on_the_common_replicas_is_not_extracted():
    """Phoenix "delta that isn't dominating on common set of replicas is not
    extracted": a generation ending where the requester already is, on the
    replicas it knows, is passed over even if it is ahead on another one."""
    a, b = State(A), State(B)
    replica_up(a, B)
    join(b, "pid", "lobby", "user0", {})
    db = reset_delta(b)[1]
    merge(a, db)
    join(a, "pid", "lobby", "user1", {})
    da1 = reset_delta(a)[1]
    join(a, "pid", "lobby", "user2", {})
    da2 = reset_delta(a)[1]
    d1 = merge_deltas(da1, db)                 # {A: 0, B: 0}..{A: 1, B: 1}
    d2 = merge_deltas(da1, da2)                # {A: 0}..{A: 2}
    answer = extract(a, [d1, d2], C, {A: 1})   # C does not know B
    assert isinstance(answer, Delta) and content(answer) == content(d2)


# ------------------------------------------------------------------------------------------
# Limits hold for every generation, whatever the delta sizes.

def test_an_overflowing_generation_takes_the_previous_generation_merged_with_the_delta():
    a = State(A)
    d1, d2, d3 = deltas_of(a, ["p1", "p2", "p3"])   # each of size 2
    gens = push(push([], d1, [2, 5]), d2, [2, 5])
    gens = push(gens, d3, [2, 5])
    assert gens[0] is d3
    assert sorted(gens[1].values) == [(A, 2), (A, 3)], "gen 0's merge, not d3 alone"
    assert (gens[1].start, gens[1].end) == ({A: 1}, {A: 3})


def test_no_generation_ever_exceeds_its_limit():
    """Growing deltas (sizes 2, 4, ... 16) through limits 3, 7 and 12: each
    generation stays within its limit and ends at the newest delta."""
    a = State(A)
    sizes = [3, 7, 12]
    gens = []
    for n in range(1, 9):
        for i in range(n):
            join(a, f"p{n}.{i}", "room", f"p{n}.{i}", {})
        delta = reset_delta(a)[1]
        gens = push(gens, delta, sizes)
        for g, limit in zip(gens, sizes):
            assert delta_size(g) <= limit
            assert g.end == {A: a.context[A]}
            newest_in = all(t in g.values for t in delta.values)
            assert newest_in == (delta_size(delta) <= limit)


def test_a_delta_too_big_for_a_generation_restarts_it_empty_at_the_delta_end():
    """A generation that cannot hold even the new delta alone becomes an
    empty window ending there, so the deltas after it still continue it."""
    a, b = cluster(A, B)
    gens = push([], deltas_of(a, ["p1"])[0], [2, 100])
    join(a, "p2", "room", "p2", {})
    join(a, "p3", "room", "p3", {})
    big = reset_delta(a)[1]                    # size 4 > 2
    gens = push(gens, big, [2, 100])
    assert (gens[0].values, gens[0].clouds, gens[0].start, gens[0].end) == ({}, {}, {A: 3},
                                                                             {A: 3})
    assert sorted(gens[1].values) == [(A, 1), (A, 2), (A, 3)]
    (d4,) = deltas_of(a, ["p4"])
    gens = push(gens, d4, [2, 100])
    assert sorted(gens[0].values) == [(A, 4)] and (gens[0].start, gens[0].end) == ({A: 3},
                                                                                  {A: 4})
    merge(b, extract(a, gens, B, clocks(b)[1]))
    assert online_list(b) == online_list(a)


def test_own_changes_not_yet_sent_answer_alone_when_they_fill_the_gap():
    a, b = cluster(A, B)
    deltas_of(a, ["p1"])
    merge(b, extract(a, [], B, clocks(b)[1]))
    join(a, "p2", "room", "p2", {})
    answer = extract(a, [], B, clocks(b)[1])
    assert isinstance(answer, Delta) and list(answer.values) == [(A, 2)]
    assert (answer.clouds, answer.start, answer.end) == ({A: {2}}, {A: 1}, {A: 2})
    leave(a, "p2", "room", "p2")
    join(a, "p3", "room", "p3", {})
    assert (answer.clouds, answer.end) == ({A: {2}}, {A: 2}), "later events stay out of it"
    merge(b, answer)
    assert online_list(b) == [e for e in online_list(a) if e.key == "p1"] + [answer.values[A, 2]]
    merge(b, extract(a, [], B, clocks(b)[1]))
    assert online_list(b) == online_list(a)
