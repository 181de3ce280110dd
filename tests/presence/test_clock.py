"""Vector clocks, clocksets and dot clouds (beamish.presence._clock)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.presence._clock import (add_dot, append_clock, clockset_replicas, combine_clocks,
                                     compact, dominates, dominates_or_equal, dot_count, in_clouds,
                                     lowerbound, replicas_to_ask, restrict, seen, upperbound)


def test_a_clock_dominates_an_equal_or_smaller_clock():
    assert dominates({"a": 1, "b": 2}, {"a": 1, "b": 2})
    assert dominates({"a": 3, "b": 2}, {"a": 1, "b": 2})
    assert dominates({"a": 3, "b": 2}, {"a": 1})
    assert not dominates({"a": 1, "b": 2}, {"a": 2, "b": 2})


def test_concurrent_clocks_dominate_neither_way():
    assert not dominates({"a": 2, "b": 1}, {"a": 1, "b": 2})
    assert not dominates({"a": 1, "b": 2}, {"a": 2, "b": 1})


def test_a_clock_with_fewer_replicas_never_dominates():
    assert not dominates({"a": 9}, {"a": 1, "b": 0})
    assert not dominates({}, {"a": 0})
    assert dominates({}, {})


def test_dominates_or_equal_looks_only_at_the_first_clocks_replicas():
    assert dominates_or_equal({"a": 2}, {"a": 2, "b": 99})
    assert dominates_or_equal({"a": 3}, {"a": 2})
    assert not dominates_or_equal({"a": 1}, {"a": 2})
    assert not dominates_or_equal({"a": 2, "b": 1}, {"a": 2, "b": 2})
    assert dominates_or_equal({"c": 0}, {})


def test_upperbound_and_lowerbound_are_pointwise_over_the_union():
    a, b = {"a": 1, "b": 5}, {"b": 3, "c": 2}
    assert upperbound(a, b) == {"a": 1, "b": 5, "c": 2}
    assert lowerbound(a, b) == {"a": 1, "b": 3, "c": 2}
    assert combine_clocks([a, b, {"a": 7}]) == {"a": 7, "b": 5, "c": 2}
    assert combine_clocks([]) == {}
    assert a == {"a": 1, "b": 5} and b == {"b": 3, "c": 2}


def test_restrict_keeps_only_the_named_replicas():
    assert restrict({"a": 1, "b": 2, "c": 3}, ["a", "c", "z"]) == {"a": 1, "c": 3}


def test_only_the_dominating_peer_is_asked_for_a_transfer():
    # The spec's example: n4's knowledge contains n3's and n1's own.
    own = ("n1", {"n1": 5, "n3": 2, "n4": 3})
    pending = append_clock([], ("n3", {"n1": 5, "n3": 4, "n4": 3}))
    pending = append_clock(pending, ("n4", {"n1": 5, "n3": 4, "n4": 7}))
    assert clockset_replicas(pending) == ["n4"]
    assert replicas_to_ask(pending, own) == ["n4"]


def test_nobody_is_asked_when_the_own_clock_dominates_or_equals_every_peer():
    own = ("n1", {"n1": 5, "n2": 4, "n3": 4})
    pending = append_clock([], ("n2", {"n1": 5, "n2": 4, "n3": 1}))
    pending = append_clock(pending, ("n3", {"n1": 2, "n2": 4, "n3": 4}))
    assert replicas_to_ask(pending, own) == []
    assert replicas_to_ask(append_clock([], ("n2", dict(own[1]))), own) == []


def test_concurrent_peers_are_all_asked():
    own = ("n1", {"n1": 1, "n2": 0, "n3": 0})
    pending = append_clock([], ("n2", {"n1": 1, "n2": 3, "n3": 0}))
    pending = append_clock(pending, ("n3", {"n1": 1, "n2": 0, "n3": 3}))
    assert replicas_to_ask(pending, own) == ["n2", "n3"]


def test_a_clock_dominated_by_the_combination_of_the_set_adds_nothing():
    pending = append_clock([], ("n2", {"n1": 0, "n2": 5, "n3": 0}))
    pending = append_clock(pending, ("n3", {"n1": 0, "n2": 0, "n3": 5}))
    assert append_clock(pending, ("n4", {"n1": 0, "n2": 3, "n3": 3})) == pending


def test_a_new_clock_removes_the_clocks_it_dominates():
    pending = append_clock([], ("n2", {"n1": 0, "n2": 5, "n3": 0}))
    pending = append_clock(pending, ("n3", {"n1": 0, "n2": 0, "n3": 5}))
    pending = append_clock(pending, ("n4", {"n1": 1, "n2": 6, "n3": 0}))
    assert clockset_replicas(pending) == ["n3", "n4"]


def test_a_newer_clock_of_the_same_replica_replaces_its_older_one():
    pending = append_clock([], ("n2", {"n1": 0, "n2": 5, "n3": 0}))
    pending = append_clock(pending, ("n3", {"n1": 0, "n2": 0, "n3": 5}))
    pending = append_clock(pending, ("n3", {"n1": 0, "n3": 6}))
    assert pending == [("n2", {"n1": 0, "n2": 5, "n3": 0}), ("n3", {"n1": 0, "n3": 6})]


def test_an_empty_clock_adds_nothing():
    pending = append_clock([], ("n2", {"n2": 1}))
    assert append_clock(pending, ("n3", {})) == pending


def test_seen_covers_the_clock_prefix_and_the_cloud_dots():
    ctx, clouds = {"a": 3}, {"a": {5}, "b": {2}}
    assert [seen(ctx, clouds, ("a", n)) for n in range(1, 7)] == [True] * 3 + [False, True, False]
    assert seen(ctx, clouds, ("b", 2)) and not seen(ctx, clouds, ("b", 1))
    assert not seen(ctx, clouds, ("c", 1))
    assert in_clouds(clouds, ("a", 5)) and not in_clouds(clouds, ("a", 3))


def test_compact_folds_a_contiguous_run_and_keeps_the_gaps():
    ctx = {"a": 2, "b": 0}
    clouds = {"a": {1, 3, 4, 6}, "b": {2}}
    compact(ctx, clouds)
    assert ctx == {"a": 4, "b": 0}
    assert clouds == {"a": {6}, "b": {2}}
    add_dot(clouds, ("b", 1))
    add_dot(clouds, ("a", 5))
    compact(ctx, clouds)
    assert ctx == {"a": 6, "b": 2} and clouds == {}


def test_compact_starts_an_unknown_replica_at_zero_unless_restricted():
    ctx, clouds = {"a": 0}, {"z": {1, 2, 4}}
    compact(ctx, clouds, known=ctx)
    assert ctx == {"a": 0} and clouds == {"z": {1, 2, 4}}
    compact(ctx, clouds)
    assert ctx == {"a": 0, "z": 2} and clouds == {"z": {4}}
    assert dot_count(clouds) == 1


clock_st = st.dictionaries(st.sampled_from("abcd"), st.integers(0, 4), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("pqrstu"), clock_st), unique_by=lambda e: e[0],
                max_size=6))
def test_a_clockset_keeps_an_antichain_that_knows_as_much_as_every_appended_clock(entries):
    pending: list = []
    for entry in entries:
        pending = append_clock(pending, entry)
    clocks = [c for _, c in pending]
    # Nothing known is lost (a zero count is no knowledge, so it may go).
    positive = lambda c: {r: n for r, n in c.items() if n}  # noqa: E731
    assert positive(combine_clocks(clocks)) == positive(combine_clocks(c for _, c in entries))
    for i, a in enumerate(clocks):
        for j, b in enumerate(clocks):
            assert i == j or not dominates(a, b), (a, b)


@settings(max_examples=200, deadline=None)
@given(clock_st, clock_st, clock_st)
def test_upperbound_is_a_join(a, b, c):
    assert upperbound(a, b) == upperbound(b, a)
    assert upperbound(upperbound(a, b), c) == upperbound(a, upperbound(b, c))
    assert upperbound(a, a) == a
    assert dominates_or_equal(upperbound(a, b), a) and dominates_or_equal(upperbound(a, b), b)
