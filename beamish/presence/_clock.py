"""Vector clocks and dot clouds: how a replica says what it has seen.

A *clock* maps a replica to a count: ``{r: n}`` means "every event 1..n of
replica ``r`` is known here".  A replica also knows some events beyond that
contiguous prefix; those are kept as *dots* ``(r, n)`` in a *cloud*
(``{r: {n, ...}}``).  Clock plus cloud is a causal context, the exact set of
events seen; :func:`compact` moves cloud dots into the clock as soon as they
extend it contiguously, so the cloud holds only the gaps.

The second half of this module picks transfer partners.  Between two
transfer checks a shard collects the clocks its peers announced in their
heartbeats into a *clockset* that keeps only maximal clocks
(:func:`append_clock`); at check time it adds its own clock and asks exactly
the replicas still in the set (:func:`replicas_to_ask`).  A peer whose
knowledge is contained in another peer's is never asked, and nobody is asked
when the own clock dominates everything.

Everything here is pure and generic in the replica type (any hashable).
Functions that build clocks return new dicts; the ones documented "in place"
mutate their arguments and say so.
"""
from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Optional, Sequence, TypeVar

__all__ = [
    "dominates", "dominates_or_equal", "upperbound", "lowerbound", "combine_clocks",
    "restrict", "append_clock", "clockset_replicas", "replicas_to_ask",
    "seen", "in_clouds", "add_dot", "compact", "dot_count",
]

R = TypeVar("R", bound=Hashable)


# ---------------------------------------------------------------- clocks

def dominates(a: Mapping[R, int], b: Mapping[R, int]) -> bool:
    """Whether clock ``a`` has seen everything clock ``b`` has (equal counts).

    As in the original, a clock naming fewer replicas than ``b`` never
    dominates it, even when ``b``'s extra entries are zero: a peer that does
    not know a replica cannot stand in for one that does.

    >>> dominates({"a": 2, "b": 1}, {"a": 1, "b": 1})
    True
    >>> dominates({"a": 5}, {"a": 1, "b": 0})
    False
    """
    if len(a) < len(b):
        return False
    return all(a.get(r, 0) >= n for r, n in b.items())


def dominates_or_equal(a: Mapping[R, int], b: Mapping[R, int]) -> bool:
    """Whether ``a`` is at least ``b`` on every replica that ``a`` names.

    Replicas only ``b`` names are ignored (they count as "not ahead").
    """
    return all(n >= b.get(r, 0) for r, n in a.items())


def upperbound(a: Mapping[R, int], b: Mapping[R, int]) -> dict[R, int]:
    """The pointwise maximum of two clocks, over the union of their replicas."""
    out = dict(a)
    for r, n in b.items():
        if n > out.get(r, -1):
            out[r] = n
    return out


def lowerbound(a: Mapping[R, int], b: Mapping[R, int]) -> dict[R, int]:
    """The pointwise minimum on shared replicas; a replica only one side names
    keeps that side's count (used to merge the starts of two delta ranges)."""
    out = dict(a)
    for r, n in b.items():
        if r not in out or n < out[r]:
            out[r] = n
    return out


def combine_clocks(clocks: Iterable[Mapping[R, int]]) -> dict[R, int]:
    """The upper bound of any number of clocks (``{}`` for none)."""
    out: dict[R, int] = {}
    for clock in clocks:
        out = upperbound(out, clock)
    return out


def restrict(clock: Mapping[R, int], replicas: Iterable[R]) -> dict[R, int]:
    """The entries of ``clock`` for the given replicas only."""
    keep = replicas if isinstance(replicas, (set, frozenset, dict)) else set(replicas)
    return {r: n for r, n in clock.items() if r in keep}


# ---------------------------------------------------------------- clocksets

Clockset = Sequence[tuple[R, Mapping[R, int]]]


def append_clock(clockset: Clockset[R], entry: tuple[R, Mapping[R, int]]
                 ) -> list[tuple[R, Mapping[R, int]]]:
    """Add ``(replica, clock)`` to a clockset that keeps only maximal clocks.

    Returns a new list.  An older clock of the same replica is replaced first
    (a replica's knowledge only grows).  Then: a clock that dominates the
    combination of the whole set replaces the set; one the combination
    dominates adds nothing (the set's replicas together know more); any other
    is added and every clock it dominates leaves the set.  An empty clock adds
    nothing.

    >>> s = append_clock([], ("n3", {"n1": 5, "n3": 4, "n4": 3}))
    >>> s = append_clock(s, ("n4", {"n1": 5, "n3": 4, "n4": 7}))
    >>> clockset_replicas(s)
    ['n4']
    """
    replica, clock = entry
    if not clock:
        return list(clockset)
    rest = [(r, c) for r, c in clockset if r != replica]
    combined = combine_clocks(c for _, c in rest)
    if dominates(clock, combined):
        return [entry]
    if dominates(combined, clock):
        return rest
    return [(r, c) for r, c in rest if not dominates(clock, c)] + [entry]


def clockset_replicas(clockset: Clockset[R]) -> list[R]:
    """The replicas whose clocks are in the set, in set order."""
    return [r for r, _ in clockset]


def replicas_to_ask(pending: Clockset[R], own: tuple[R, Mapping[R, int]]) -> list[R]:
    """Whom to send a transfer request at a check: the maximal peers.

    Adds the own ``(replica, clock)`` last, so an own clock equal to or
    dominating every peer's leaves nobody to ask, then returns every other
    replica left in the set.
    """
    me = own[0]
    return [r for r in clockset_replicas(append_clock(pending, own)) if r != me]


# ---------------------------------------------------------------- dots and clouds

Dot = tuple[R, int]


def in_clouds(clouds: Mapping[R, set[int]], dot: Dot[R]) -> bool:
    """Whether ``dot`` is among the cloud's dots."""
    dots = clouds.get(dot[0])
    return dots is not None and dot[1] in dots


def seen(context: Mapping[R, int], clouds: Mapping[R, set[int]], dot: Dot[R]) -> bool:
    """Whether the causal context ``(context, clouds)`` contains ``dot``."""
    r, n = dot
    if context.get(r, 0) >= n:
        return True
    dots = clouds.get(r)
    return dots is not None and n in dots


def add_dot(clouds: dict[R, set[int]], dot: Dot[R]) -> None:
    """Put ``dot`` into ``clouds`` (in place)."""
    r, n = dot
    dots = clouds.get(r)
    if dots is None:
        clouds[r] = {n}
    else:
        dots.add(n)


def compact(context: dict[R, int], clouds: dict[R, set[int]],
            known: Optional[Mapping[R, object]] = None) -> None:
    """Fold cloud dots that extend ``context`` contiguously into it (in place).

    Dots at or below the clock are dropped; a run ``ctx+1, ctx+2, ...`` moves
    into the clock; what remains are true gaps.  A replica absent from the
    clock starts at 0 (so its dot 1 folds).  With ``known``, only replicas in
    it may enter the clock; others keep their dots in the cloud.
    """
    for r in list(clouds):
        dots = clouds[r]
        n = context.get(r, 0)
        start = n
        while n + 1 in dots:
            n += 1
        if n > start and (known is None or r in known):
            context[r] = n
        else:
            n = start
        rest = {d for d in dots if d > n}
        if rest:
            clouds[r] = rest
        else:
            del clouds[r]


def dot_count(clouds: Mapping[R, set[int]]) -> int:
    """How many dots a cloud holds."""
    return sum(len(d) for d in clouds.values())
