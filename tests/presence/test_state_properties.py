"""Properties of the presence CRDT over random histories (hypothesis).

A small simulated cluster of 2-5 replicas runs random local operations,
heartbeats whose deltas the network loses, duplicates and reorders,
transfers answered from delta generations or full state, and down/up
marks.  Every step checks the invariants that must hold at all times;
the end of each history checks convergence and replays.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beamish.presence.crdt import (Delta, Replica, State, clocks, copy, extract, get_by_topic,
                                   join, leave, leave_pid, merge, merge_deltas, online_list,
                                   remove_down_replicas, replica_down, replica_up, reset_delta,
                                   update)
from beamish.presence import _delta_generation as generations
from beamish.presence._clock import seen

SIZES = (4, 16, 64)  # small generation limits, so overflow and restarts happen
FAST = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

idx = st.integers(0, 4)
pid, topic, key, meta = st.integers(0, 2), st.sampled_from("TU"), st.sampled_from("kl"), \
    st.integers(0, 3)
join_op = st.tuples(st.just("join"), idx, pid, topic, key, meta)
local_op = st.one_of(
    join_op, join_op, join_op,
    st.tuples(st.just("leave"), idx, st.integers(0, 9)),
    st.tuples(st.just("leave_pid"), idx, pid),
    st.tuples(st.just("update"), idx, st.integers(0, 9), meta),
)
heartbeat = st.tuples(st.just("heartbeat"), idx)
deliver = st.tuples(st.just("deliver"), idx, st.integers(0, 20), st.booleans())
network_op = st.one_of(
    heartbeat, heartbeat, deliver, deliver, deliver,
    st.tuples(st.just("drop"), idx, st.integers(0, 20)),
    st.tuples(st.just("transfer"), idx, idx),
)
liveness_op = st.tuples(st.sampled_from(["down", "up"]), idx, idx)
step = st.one_of(local_op, local_op, network_op, network_op, liveness_op)
history = st.lists(step, min_size=30, max_size=80)


def payload_seen(payload, tag):
    if isinstance(payload, Delta):
        return tag[1] in payload.clouds.get(tag[0], ())
    return seen(payload.context, payload.clouds, tag)


def snapshot(s):
    """Everything observable about a state, comparable with ==."""
    return (set(online_list(s)), set(s.values), dict(s.context),
            {r: set(d) for r, d in s.clouds.items()}, dict(s.replicas))


def own_entries(s):
    return {t: e for t, e in s.values.items() if t[0] == s.replica}


class Cluster:
    """Replicas, their generations, an unreliable network and, per replica,
    the list obtained by summing every diff it reported."""

    def __init__(self, n):
        self.states = [State(Replica(f"n{i}", 1)) for i in range(n)]
        self.gens = [[] for _ in range(n)]
        self.inbox = [[] for _ in range(n)]
        self.sent = [[] for _ in range(n)]  # every payload ever addressed to i
        # Transfer answers are filtered for their requester (its own entries
        # left out), so they must never enter its generations: only
        # heartbeat deltas do.  Keep them apart by identity.
        self.answers = set()
        self.views = [{} for _ in range(n)]
        for s in self.states:
            for r in self.states:
                self.apply(s, replica_up(s, r.replica))

    def apply(self, s, diff):
        state, joins, leaves = diff
        assert state is s
        view = self.views[self.states.index(s)]
        for e in joins:
            assert e.tag not in view, "joined twice"
            view[e.tag] = e
        for e in leaves:
            assert view.pop(e.tag) == e, "left what was not joined"
        assert view == {e.tag: e for e in online_list(s)}, "diffs do not sum to the list"
        for t in "TU":
            assert set(get_by_topic(s, t)) == {e for e in view.values() if e.topic == t}

    def run(self, op):
        n, kind, args = len(self.states), op[0], op[1:]
        i = args[0] % n
        s = self.states[i]
        if kind == "join" and (args[2], args[1], args[3]) not in s.owned:
            self.apply(s, join(s, args[1], args[2], args[3], {"m": args[4]}))
        elif kind == "leave":  # one of its entries, or (harmlessly) one it lacks
            owned = sorted(s.owned) or [("T", 9, "k")]
            t, p, k = owned[args[1] % len(owned)]
            self.apply(s, leave(s, p, t, k))
        elif kind == "leave_pid":
            self.apply(s, leave_pid(s, args[1]))
        elif kind == "update" and s.owned:
            t, p, k = sorted(s.owned)[args[1] % len(s.owned)]
            self.apply(s, update(s, p, t, k, {"m": args[2]}))
        elif kind == "heartbeat":
            self.heartbeat(i)
        elif kind in ("deliver", "drop") and self.inbox[i]:
            k = args[1] % len(self.inbox[i])
            payload = self.inbox[i][k]
            if kind == "drop" or not args[2]:
                del self.inbox[i][k]
            if kind == "deliver":
                self.deliver(i, payload)
        elif kind == "transfer" and args[1] % n != i:
            self.request(i, args[1] % n, immediately=False)
        elif kind in ("down", "up") and args[1] % n != i:
            other = self.states[args[1] % n].replica
            before = set(online_list(s))
            self.apply(s, (replica_down if kind == "down" else replica_up)(s, other))
            theirs = {e for e in s.values.values() if e.replica == other}
            expected = before - theirs if kind == "down" else before | theirs
            assert set(online_list(s)) == expected, "down/up changed other entries"

    def heartbeat(self, i):
        _, delta = reset_delta(self.states[i])
        self.gens[i] = generations.push(self.gens[i], delta, SIZES)
        for j in range(len(self.states)):
            if j != i:
                self.inbox[j].append(delta)
                self.sent[j].append(delta)

    def request(self, i, j, immediately):
        s = self.states[i]
        answer = generations.extract(self.states[j], self.gens[j], s.replica, clocks(s)[1])
        self.answers.add(id(answer))
        self.sent[i].append(answer)
        if immediately:
            self.deliver(i, answer)
        else:
            self.inbox[i].append(answer)

    def deliver(self, i, payload):
        s = self.states[i]
        before, own = dict(s.values), own_entries(s)
        seen_before = {t for t in payload.values if seen(s.context, s.clouds, t)}
        diff = merge(s, payload)
        self.apply(s, diff)
        assert own_entries(s) == own, "a merge changed the receiver's own entries"
        for tag in before:
            if not payload_seen(payload, tag):
                assert tag in s.values, "a remove deleted an add it had not seen"
        assert not seen_before & {e.tag for e in diff[1]}, "a seen (removed) dot came back"
        again = snapshot(s)
        assert merge(s, payload) == (s, [], []) and snapshot(s) == again, "not idempotent"
        if id(payload) in self.answers:
            self.gens[i] = []   # as a transfer ack does in a tracker shard
        else:
            self.gens[i] = generations.push(self.gens[i], payload, SIZES)

    def converge(self):
        """Everyone up, everyone heartbeats (all lost), one transfer from everyone."""
        n = len(self.states)
        for s in self.states:
            for r in self.states:
                self.apply(s, replica_up(s, r.replica))
        for i in range(n):
            self.heartbeat(i)
            self.inbox = [[] for _ in range(n)]
        for i in range(n):
            for j in range(n):
                if i != j:
                    self.request(i, j, immediately=True)

    def truth(self):
        return {e for s in self.states for e in own_entries(s).values()}


@FAST
@given(st.integers(2, 5), history)
def test_any_history_converges_once_transfers_run_and_replays_change_nothing(n, ops):
    c = Cluster(n)
    for op in ops:
        c.run(op)
    c.converge()
    truth = c.truth()
    full_context = {s.replica: s.context[s.replica] for s in c.states}
    for s in c.states:
        assert set(online_list(s)) == truth
        assert s.context == full_context and s.clouds == {}
    # No resurrection: replaying every payload ever sent changes nothing.
    for i, s in enumerate(c.states):
        for payload in c.sent[i]:
            assert merge(s, payload) == (s, [], [])
        assert set(online_list(s)) == truth


def settled_states(n, ops):
    """The states a random history leaves, everyone marked up, no transfer run."""
    c = Cluster(n)
    for op in ops:
        c.run(op)
    for s in c.states:
        for r in c.states:
            replica_up(s, r.replica)
    return c.states


def merged(a, b):
    """a ⊔ b, as seen at a: a copy of a merged with b's extract for it."""
    out = copy(a)
    merge(out, extract(b, a.replica, clocks(a)[1]))
    return out


def same(x, y):
    return set(online_list(x)) == set(online_list(y)) and x.context == y.context \
        and x.clouds == y.clouds


@FAST
@given(history)
def test_merge_is_commutative_associative_and_idempotent(ops):
    a, b, c = settled_states(3, ops)
    ab, ba = merged(a, b), merged(b, a)
    assert set(online_list(ab)) == set(online_list(ba)) and ab.context == ba.context
    assert ab.clouds == ba.clouds
    assert same(merged(merged(a, b), c), merged(a, merged(b, c)))
    assert same(merged(merged(a, c), b), merged(merged(a, b), c))
    again = copy(ab)
    assert merge(again, extract(b, a.replica, clocks(a)[1])) == (again, [], [])
    assert same(again, ab)


@FAST
@given(st.lists(st.one_of(local_op, local_op, st.just(("heartbeat", 0))), max_size=50),
       st.randoms(use_true_random=False))
def test_deltas_in_any_order_with_duplicates_equal_one_full_transfer(ops, rnd):
    c = Cluster(2)
    a, b = c.states
    for s in c.states:  # b has entries of its own that must not be disturbed
        c.apply(s, join(s, 99, "T", "k", {}))
    deltas = []
    for op in ops:
        c.run((op[0], 0) + op[2:])
        if op[0] == "heartbeat":
            deltas.append(c.inbox[1].pop())
    deltas.append(reset_delta(a)[1])
    by_extract, in_order, as_one = copy(b), copy(b), copy(b)
    merge(by_extract, extract(a, b.replica, clocks(b)[1]))
    for d in deltas:
        merge(in_order, d)
    generation = deltas[0]
    for d in deltas[1:]:
        generation = merge_deltas(generation, d)
    merge(as_one, generation)
    # b itself gets them shuffled and partly duplicated, checked at every step.
    replays = deltas + [rnd.choice(deltas) for _ in range(len(deltas) // 2)]
    rnd.shuffle(replays)
    for d in replays:
        c.deliver(1, d)
    for other in (in_order, b, as_one):
        assert same(other, by_extract)
    assert {e for e in online_list(b) if e.replica == a.replica} == \
        set(own_entries(a).values())


@FAST
@given(st.integers(3, 5), history, st.data())
def test_permdown_drops_exactly_the_replicas_entries_for_good(n, ops, data):
    c = Cluster(n)
    for op in ops:
        c.run(op)
    if data.draw(st.booleans()):  # let the dead replica's entries reach everyone first
        c.converge()
    dead = c.states[-1].replica
    survivors = c.states[:-1]
    for s in survivors:
        was_up = s.replicas[dead] == "up"
        before = set(online_list(s))
        theirs = {e for e in s.values.values() if e.replica == dead}
        if data.draw(st.booleans()):
            c.apply(s, replica_down(s, dead))
            was_up = False
        diff = remove_down_replicas(s, dead)
        assert set(diff[2]) == (theirs if was_up else set()) and diff[1] == []
        c.apply(s, diff)
        assert set(online_list(s)) == before - theirs
        assert dead not in s.context and dead not in s.clouds and dead not in s.replicas
        i = c.states.index(s)
        c.gens[i] = generations.remove_down_replicas(c.gens[i], dead)
        assert all(dead not in g.clouds and dead not in g.start and dead not in g.end
                   and all(t[0] != dead for t in g.values) for g in c.gens[i])
    for i, s in enumerate(survivors):  # replays, old or relayed, never bring it back
        for payload in c.sent[i]:
            c.apply(s, merge(s, payload))
        assert all(t[0] != dead for t in s.values) and dead not in s.context
        assert dead not in s.clouds and dead not in s.replicas
    c.states, c.gens, c.views = survivors, c.gens[:-1], c.views[:-1]
    c.sent, c.inbox = c.sent[:-1], c.inbox[:-1]
    c.converge()
    for s in survivors:
        assert set(online_list(s)) == c.truth()
