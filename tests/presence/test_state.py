"""The presence CRDT state, by example (beamish.presence._state)."""
import pytest

import beamish.presence as presence
from beamish.presence import AlreadyTracked, NoPresence
from beamish.presence.crdt import (Delta, Entry, Extract, Replica, State,
                                   clocks, compact, copy, extract, get_by_key, get_by_pid,
                                   get_by_replica, get_by_topic, get_local, has_delta, join, leave,
                                   leave_pid, merge, new_replica, online_list, remove_down_replicas,
                                   replica_down, replica_up, reset_delta, update)

A, B, C = Replica("a", 1), Replica("b", 1), Replica("c", 1)


def cluster(*replicas):
    """States that all know each other as up."""
    states = [State(r) for r in replicas]
    for s in states:
        for r in replicas:
            replica_up(s, r)
    return states


def send(state):
    return reset_delta(state)[1]


def tags(entries):
    return sorted(e.tag for e in entries)


def test_the_package_exports_what_it_lists():
    for name in presence.__all__:
        assert hasattr(presence, name), name


def test_new_replicas_are_distinct_incarnations_of_one_node():
    r1, r2 = new_replica("n1@host"), new_replica("n1@host")
    assert r1.name == r2.name == "n1@host" and r1.vsn != r2.vsn and r1 != r2


def test_a_new_state_knows_only_itself_at_zero():
    s = State(A)
    assert s.context == {A: 0} and s.clouds == {} and s.replicas == {}
    assert online_list(s) == [] and not has_delta(s)
    assert clocks(s) == (A, {A: 0})


def test_join_uses_one_dot_and_lists_the_entry():
    s = State(A)
    _, joins, leaves = join(s, "p1", "room", "u1", {"x": 1})
    assert joins == [Entry("room", "p1", "u1", {"x": 1}, (A, 1))] and leaves == []
    assert s.context == {A: 1}
    assert get_by_topic(s, "room") == joins == get_by_key(s, "room", "u1") == get_by_pid(s, "p1")
    assert get_local(s, "p1", "room", "u1") == joins[0]
    assert get_by_key(s, "room", "u2") == [] and get_by_topic(s, "other") == []
    assert has_delta(s)


def test_join_copies_the_meta():
    meta = {"x": 1}
    s = State(A)
    join(s, "p1", "room", "u1", meta)
    meta["x"] = 2
    assert get_local(s, "p1", "room", "u1").meta == {"x": 1}


def test_tracking_the_same_pid_topic_and_key_twice_raises():
    s = State(A)
    join(s, "p1", "room", "u1", {})
    with pytest.raises(AlreadyTracked, match="'p1'.*'room'.*'u1'"):
        join(s, "p1", "room", "u1", {})
    assert s.context == {A: 1} and len(online_list(s)) == 1
    join(s, "p1", "room", "u2", {})
    join(s, "p1", "lobby", "u1", {})
    join(s, "p2", "room", "u1", {})
    assert len(online_list(s)) == 4


def test_leave_removes_the_entry_and_uses_one_dot():
    s = State(A)
    join(s, "p1", "room", "u1", {})
    reset_delta(s)
    _, joins, leaves = leave(s, "p1", "room", "u1")
    assert joins == [] and tags(leaves) == [(A, 1)]
    assert online_list(s) == [] and s.context == {A: 2}
    delta = send(s)
    assert delta.values == {} and delta.clouds == {A: {1, 2}}
    assert (delta.start, delta.end) == ({A: 1}, {A: 2})


def test_leave_of_untracked_entry_is_harmless():
    s = State(A)
    assert leave(s, "p1", "room", "u1") == (s, [], [])
    assert s.context == {A: 0} and not has_delta(s)


def test_leave_does_not_touch_another_replicas_entry_for_the_same_pid():
    a, b = cluster(A, B)
    join(b, "p1", "room", "u1", {})
    merge(a, send(b))
    assert leave(a, "p1", "room", "u1") == (a, [], [])
    assert leave_pid(a, "p1") == (a, [], [])
    assert tags(online_list(a)) == [(B, 1)]


def test_leave_pid_drops_every_entry_of_that_pid_only():
    s = State(A)
    join(s, "p1", "room", "u1", {})
    join(s, "p1", "lobby", "u1", {})
    join(s, "p2", "room", "u2", {})
    _, joins, leaves = leave_pid(s, "p1")
    assert joins == [] and tags(leaves) == [(A, 1), (A, 2)]
    assert tags(online_list(s)) == [(A, 3)] and s.context == {A: 5}
    assert get_by_pid(s, "p1") == []


def test_update_is_a_leave_then_a_join_under_a_new_tag():
    s = State(A)
    join(s, "p1", "room", "u1", {"status": "online"})
    _, joins, leaves = update(s, "p1", "room", "u1", {"status": "away"})
    assert leaves == [Entry("room", "p1", "u1", {"status": "online"}, (A, 1))]
    assert joins == [Entry("room", "p1", "u1", {"status": "away"}, (A, 3))]
    assert online_list(s) == joins and s.context == {A: 3}


def test_update_of_an_untracked_entry_raises_no_presence():
    s = State(A)
    with pytest.raises(NoPresence, match="'p1'.*'room'.*'u1'"):
        update(s, "p1", "room", "u1", {})
    assert s.context == {A: 0}


def test_reset_delta_hands_out_the_changes_and_restarts_at_the_current_clock():
    s = State(A)
    join(s, "p1", "room", "u1", {})
    _, delta = reset_delta(s)
    assert list(delta.values) == [(A, 1)] and delta.clouds == {A: {1}}
    assert (delta.start, delta.end) == ({A: 0}, {A: 1})
    assert not has_delta(s) and (s.delta.start, s.delta.end) == ({A: 1}, {A: 1})
    join(s, "p2", "room", "u2", {})
    assert list(delta.values) == [(A, 1)], "a handed-out delta never changes"


def test_a_merged_delta_reports_joins_then_leaves_once():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {})
    d1 = send(a)
    assert tags(merge(b, d1)[1]) == [(A, 1)]
    assert merge(b, d1) == (b, [], [])
    leave(a, "p1", "room", "u1")
    d2 = send(a)
    _, joins, leaves = merge(b, d2)
    assert joins == [] and tags(leaves) == [(A, 1)]
    assert merge(b, d2) == (b, [], []) and online_list(b) == []
    assert b.context == {A: 2, B: 0} and b.clouds == {}


def test_a_join_and_leave_inside_one_delta_reach_peers_as_nothing():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {})
    leave(a, "p1", "room", "u1")
    assert merge(b, send(a)) == (b, [], [])
    assert b.context[A] == 2


def test_data_of_an_unknown_replica_is_refused():
    a, b = State(A), State(B)
    join(a, "p1", "room", "u1", {})
    assert merge(b, send(a)) == (b, [], [])
    assert online_list(b) == [] and b.context == {B: 0} and b.clouds == {}
    assert merge(b, extract(a, B, {A: 0, B: 0})) == (b, [], [])
    assert b.context == {B: 0}


def test_a_merge_never_removes_the_receivers_own_entries():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {})
    merge(b, send(a))
    # A peer claiming to have seen a's dot without holding it cannot remove it.
    claim = Extract(B, {A: 5, B: 0}, {}, {})
    assert merge(a, claim) == (a, [], [])
    assert merge(a, Delta({}, {A: {1}}, {A: 0}, {A: 1})) == (a, [], [])
    assert tags(online_list(a)) == [(A, 1)]


def test_deltas_arriving_out_of_order_do_not_resurrect_a_removed_entry():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {"v": 1})
    d1 = send(a)
    leave(a, "p1", "room", "u1")
    d2 = send(a)
    join(a, "p1", "room", "u1", {"v": 2})
    d3 = send(a)
    assert tags(merge(b, d3)[1]) == [(A, 3)]
    assert merge(b, d2) == (b, [], [])
    assert merge(b, d1) == (b, [], []), "the old join is seen (removed) already"
    assert online_list(b) == online_list(a) and b.context[A] == 3 and b.clouds == {}


def test_a_leave_and_a_later_rejoin_of_one_key_may_both_show_until_the_leave_arrives():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {"v": 1})
    merge(b, send(a))
    leave(a, "p1", "room", "u1")
    lost = send(a)
    join(a, "p1", "room", "u1", {"v": 2})
    merge(b, send(a))
    assert tags(get_by_key(b, "room", "u1")) == [(A, 1), (A, 3)]
    _, joins, leaves = merge(b, lost)
    assert joins == [] and tags(leaves) == [(A, 1)]
    assert online_list(b) == online_list(a)


def test_a_stale_extract_cannot_remove_an_add_it_never_saw():
    a, b, c = cluster(A, B, C)
    join(b, "p1", "room", "u1", {"v": 1})
    d1 = send(b)
    merge(c, d1)
    merge(a, d1)
    stale = extract(c, A, clocks(a)[1])
    update(b, "p1", "room", "u1", {"v": 2})
    merge(a, send(b))
    assert tags(online_list(a)) == [(B, 3)]
    assert merge(a, stale) == (a, [], []), "b3 unseen by c survives, b1 stays removed"
    assert tags(online_list(a)) == [(B, 3)]


def test_a_transfer_catches_a_replica_up_and_then_is_idempotent():
    a, b, c = cluster(A, B, C)
    join(a, "p1", "room", "u1", {})
    join(b, "p2", "room", "u2", {})
    merge(c, send(a))
    merge(c, send(b))
    _, joins, _ = merge(a, extract(c, A, clocks(a)[1]))
    assert tags(joins) == [(B, 1)]
    assert merge(a, extract(c, A, clocks(a)[1])) == (a, [], [])
    assert a.context == {A: 1, B: 1, C: 0}


def test_an_extract_keeps_only_replicas_the_requester_knows_and_none_of_its_entries():
    a, b, c = cluster(A, B, C)
    for s, pid in ((a, "pa"), (b, "pb"), (c, "pc")):
        join(s, pid, "room", pid, {})
    d_a, d_c = send(a), send(c)
    merge(b, d_a)
    merge(b, d_c)
    x = extract(b, A, {A: 1, B: 0})
    assert x.replica == B and set(x.context) == {A, B}
    assert list(x.values) == [(B, 1)]
    assert C not in x.clouds


def test_a_down_replicas_entries_are_hidden_and_return_when_it_is_up_again():
    a, b = cluster(A, B)
    join(b, "p1", "room", "u1", {})
    merge(a, send(b))
    _, joins, leaves = replica_down(a, B)
    assert joins == [] and tags(leaves) == [(B, 1)]
    assert get_by_topic(a, "room") == [] and get_by_key(a, "room", "u1") == []
    assert get_by_pid(a, "p1") == [] and online_list(a) == []
    assert tags(get_by_replica(a, B)) == [(B, 1)]
    assert clocks(a) == (A, {A: 0})
    assert replica_down(a, B) == (a, [], [])
    _, joins, leaves = replica_up(a, B)
    assert tags(joins) == [(B, 1)] and leaves == []
    assert replica_up(a, B) == (a, [], [])


def test_changes_from_a_down_replica_are_stored_but_not_reported():
    a, b = cluster(A, B)
    replica_down(a, B)
    join(b, "p1", "room", "u1", {})
    assert merge(a, send(b)) == (a, [], [])
    assert tags(replica_up(a, B)[1]) == [(B, 1)]


def test_permdown_of_a_down_replica_forgets_it_without_a_diff():
    a, b, c = cluster(A, B, C)
    join(b, "p1", "room", "u1", {})
    join(c, "p2", "room", "u2", {})
    d_b = send(b)
    merge(a, d_b)
    merge(a, send(c))
    merge(a, Delta({}, {B: {7}}, {}, {}))
    assert a.clouds == {B: {7}}
    replica_down(a, B)
    assert remove_down_replicas(a, B) == (a, [], [])
    assert B not in a.context and B not in a.clouds and B not in a.replicas
    assert tags(online_list(a)) == [(C, 1)] and get_by_replica(a, B) == []
    # Its data is refused from now on, directly or relayed.
    assert merge(a, d_b) == (a, [], [])
    merge(c, d_b)
    assert merge(a, extract(c, A, {A: 0, B: 1, C: 1})) == (a, [], [])
    assert tags(online_list(a)) == [(C, 1)] and B not in a.context


def test_permdown_of_an_up_replica_reports_its_leaves():
    a, b = cluster(A, B)
    join(b, "p1", "room", "u1", {})
    join(a, "p0", "room", "u0", {})
    merge(a, send(b))
    _, joins, leaves = remove_down_replicas(a, B)
    assert joins == [] and tags(leaves) == [(B, 1)]
    assert tags(online_list(a)) == [(A, 1)]
    assert remove_down_replicas(a, B) == (a, [], [])
    assert remove_down_replicas(a, A) == (a, [], []) and a.context == {A: 1}


def test_a_restarted_node_is_a_new_replica_whose_entries_never_mix_with_the_old():
    old, new = Replica("n2", 1), Replica("n2", 2)
    a, b_old = cluster(A, old)
    join(b_old, "p1", "room", "u1", {"v": "old"})
    merge(a, send(b_old))
    b_new = State(new)
    replica_up(b_new, A)
    join(b_new, "p9", "room", "u1", {"v": "new"})
    _, _, leaves = remove_down_replicas(a, old)
    assert tags(leaves) == [(old, 1)]
    replica_up(a, new)
    _, joins, _ = merge(a, send(b_new))
    assert tags(joins) == [(new, 1)] and online_list(a) == joins


def test_compact_folds_cloud_dots_that_extend_the_context():
    a, b = cluster(A, B)
    for n in range(3):
        join(b, f"p{n}", "room", "u", {})
    d = send(b)
    merge(a, Delta({}, {B: {2, 3, 5}}, {}, {}))
    assert a.context[B] == 0 and a.clouds == {B: {2, 3, 5}}
    merge(a, Delta({}, {B: {1}}, {}, {}))
    assert a.context[B] == 3 and a.clouds == {B: {5}}
    assert compact(a) is a and a.clouds == {B: {5}}
    assert merge(a, d) == (a, [], []), "dots 1-3 are seen (removed) already"


def test_a_copy_is_independent_of_the_original():
    a, b = cluster(A, B)
    join(a, "p1", "room", "u1", {})
    snapshot = copy(a)
    join(a, "p2", "room", "u2", {})
    replica_down(a, B)
    assert tags(online_list(snapshot)) == [(A, 1)] and snapshot.context == {A: 1, B: 0}
    assert list(snapshot.delta.values) == [(A, 1)] and snapshot.replicas[B] == "up"
    assert tags(online_list(a)) == [(A, 1), (A, 2)]
