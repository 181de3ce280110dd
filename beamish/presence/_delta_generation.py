"""Delta generations: recent deltas merged into a few bounded windows.

A shard keeps a short list of merged deltas, each with a size limit
(default ``[100, 1000, 10_000]`` entries plus dots).  Every delta it sends or
receives is merged into each generation whose range it continues.  A
generation whose merge would outgrow its limit restarts from a window that
ends with the new delta and fits: normally the previous generation merged
with that delta, so with growing limits the generations hold the newest
deltas over growing spans of time.  When a peer asks for a transfer, the
smallest window that fills the peer's whole gap is sent instead of the
full state, which keeps catch-up after a short outage cheap.

The list of generations is a plain value: :func:`push` and
:func:`remove_down_replicas` return a new list and never change a delta in
place.  Receiving a full-state transfer should reset it to ``[]``.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Optional, Sequence, Union

from . import _clock, _state
from ._records import Delta, Entry, Extract, Replica, Tag

__all__ = ["DEFAULT_MAX_SIZES", "delta_size", "merge_deltas", "push", "remove_down_replicas",
           "extract", "filter_delta"]

DEFAULT_MAX_SIZES: tuple[int, ...] = (100, 1000, 10_000)


def delta_size(delta: Delta) -> int:
    """The size a generation limit counts: entries plus cloud dots."""
    return len(delta.values) + _clock.dot_count(delta.clouds)


def _contiguous(a: Delta, b: Delta) -> bool:
    for r, b_start in b.start.items():
        a_end = a.end.get(r)
        if a_end is not None and (b_start > a_end or a.start[r] > b.end[r]):
            return False
    return True


def merge_deltas(a: Delta, b: Delta) -> Optional[Delta]:
    """The union of two deltas, or ``None`` if their ranges leave a gap.

    For every replica both ranges name, the two ranges must overlap or touch;
    the result then covers the union of both ranges.  An entry survives
    unless the other delta saw its tag and no longer holds it (it removed
    it).  Commutative; neither input is changed.
    """
    if not _contiguous(a, b):
        return None
    values: dict[Tag, Entry] = {}
    for mine, other in ((a, b), (b, a)):
        for tag, entry in mine.values.items():
            if tag in other.values or not _clock.in_clouds(other.clouds, tag):
                values[tag] = entry
    clouds = {r: set(ns) for r, ns in a.clouds.items()}
    for r, ns in b.clouds.items():
        clouds[r] = clouds[r] | ns if r in clouds else set(ns)
    return Delta(values, clouds, _clock.lowerbound(a.start, b.start),
                 _clock.upperbound(a.end, b.end))


def _empty_window(at: Mapping[Replica, int]) -> Delta:
    """A delta holding nothing, ending (and starting) at the clock ``at``."""
    return Delta({}, {}, dict(at), dict(at))


def push(generations: Sequence[Delta], delta: Delta,
         max_sizes: Sequence[int] = DEFAULT_MAX_SIZES) -> list[Delta]:
    """Push a sent or received heartbeat ``delta`` into every generation.

    Never push a transfer answer: it is filtered for its requester (the
    requester's own entries are left out while their dots are kept), so a
    generation holding it would later tell a third replica that those
    entries were removed.  A shard clears its generations on a transfer
    ack instead.

    Generation ``i`` (missing ones count as empty, as in ``[]``) becomes its
    merge with ``delta`` if that fits ``max_sizes[i]``; if the ranges leave a
    gap it stays as it was.  If the merge is too big, the generation restarts
    from the newest window that ends with ``delta`` and fits: the
    previous generation's merge with ``delta`` (even if that one outgrew
    its own, smaller limit), an earlier one, or ``delta`` alone.  If not
    even ``delta`` fits, it restarts empty at ``delta``'s end, so later
    deltas still continue it.  No generation ever exceeds its limit.
    """
    # The windows that end with ``delta`` so far, shortest first, with sizes.
    windows = [(delta, delta_size(delta))]
    out: list[Delta] = []
    for i, limit in enumerate(max_sizes):
        if i < len(generations):
            gen = generations[i]
            merged = merge_deltas(gen, delta)
            if merged is None:
                out.append(gen)
                continue
            windows.append((merged, delta_size(merged)))
        fitting = next((w for w, size in reversed(windows) if size <= limit), None)
        out.append(_empty_window(delta.end) if fitting is None else fitting)
    return out


def remove_down_replicas(generations: Sequence[Delta], replica: Replica) -> list[Delta]:
    """The generations without any trace of a permdown ``replica``."""
    out = []
    for gen in generations:
        out.append(Delta(
            {t: e for t, e in gen.values.items() if t[0] != replica},
            {r: ns for r, ns in gen.clouds.items() if r != replica},
            {r: n for r, n in gen.start.items() if r != replica},
            {r: n for r, n in gen.end.items() if r != replica}))
    return out


def filter_delta(delta: Delta, remote_ref: Replica,
                 remote_context: Mapping[Replica, int]) -> Delta:
    """``delta`` as sent to ``remote_ref``: only replicas in its clock, none
    of its own entries."""
    known = remote_context
    return Delta(
        {t: e for t, e in delta.values.items() if t[0] in known and t[0] != remote_ref},
        {r: ns for r, ns in delta.clouds.items() if r in known},
        {r: n for r, n in delta.start.items() if r in known},
        {r: n for r, n in delta.end.items() if r in known})


def _windows(generations: Sequence[Delta], pending: Optional[Delta]) -> Iterator[Delta]:
    """The candidate answers of :func:`extract`, smallest first (lazily, as
    merging costs the size of a generation)."""
    if pending is None:
        yield from generations
        return
    # The state keeps adding to its current delta in place: answer with a copy.
    pending = Delta(dict(pending.values), {r: set(ns) for r, ns in pending.clouds.items()},
                    dict(pending.start), dict(pending.end))
    yield pending
    for gen in generations:
        # Own events since the last heartbeat are in no generation yet.
        yield merge_deltas(gen, pending) or gen


def extract(state: _state.State, generations: Sequence[Delta], remote_ref: Replica,
            remote_context: Mapping[Replica, int]) -> Union[Delta, Extract]:
    """What to send ``remote_ref`` (clock ``remote_context``) for a transfer.

    Its *gap* is every replica it knows, other than itself, on which this
    state's clock is ahead of its clock.  The first window whose range
    covers the whole gap (starts at or before the requester's count and ends
    at or after ours, for each replica of the gap) is sent, filtered; with no
    gap or no such window, the full state is extracted.  The windows, in
    order: the own events not yet sent in a heartbeat (the state's current
    delta) alone, then each generation with those events added.  A window
    that ends where the requester already is, or names none of the gap's
    replicas, therefore never answers.
    """
    gap: dict[Replica, tuple[int, int]] = {}
    for r, have in remote_context.items():
        ours = state.context.get(r, 0)
        if r != remote_ref and ours > have:
            gap[r] = (have, ours)
    if gap:
        for gen in _windows(generations, state.delta if _state.has_delta(state) else None):
            start, end = gen.start, gen.end
            if all(r in start and start[r] <= have and end[r] >= ours
                   for r, (have, ours) in gap.items()):
                return filter_delta(gen, remote_ref, remote_context)
    return _state.extract(state, remote_ref, remote_context)
