"""Presence: who is online per topic, as the Phoenix JS client expects it.

A :class:`Presence` is a :class:`~beamish.presence.Tracker` whose diffs
become ``presence_diff`` broadcasts, node-locally, to the topic's
subscribers (channels receive them through the fastlane), shaped exactly
as ``Presence.syncDiff`` wants::

    {"joins": {"alice": {"metas": [{"status": "online", "phx_ref": "..."}]}},
     "leaves": {}}

One user with several tabs is one key with several metas.

At room scale every join costs every member something, so a Presence
coalesces (``diff_window``, default 25 ms, 0 for one diff per change):
each topic gets one ``presence_diff`` per window with the entries that
changed in it, encoded once per serializer through the fastlane.  A big
topic's window grows with it while it is busy (``diff_rate``: about that
many diff deliveries per topic per second, the window ``n / diff_rate``
for n presences, at most ``max_diff_window``), so that a room of 10,000
costs a bounded share of the node however fast people arrive, and ends
early once the topic is quiet for ``diff_window``, so that everyone sees
the last of a burst at once; a small room keeps the short window.

:func:`list_presence` gives a topic's grouped list as of the end of its
last window (what it misses is in the topic's next ``presence_diff``,
which a channel subscribed to the topic before listing it receives): one
listing per window, however many joiners ask for it, as a frozen payload
that the channel serializers encode once for all their pushes of it as
``presence_state``.  On a big topic the listing is built once, then
carried forward by each of the topic's diffs (O(changes), see
:func:`_advance`) rather than regrouped from all n presences every
window; a small one's is rebuilt at the first read after each window,
so its first joiner since then finds itself in it.

Use from a channel::

    class RoomChannel(Channel):
        def join(self, topic, payload):
            send(self_pid(), "after_join")
            return ("ok", {})

        def handle_info(self, msg):
            if msg == "after_join":
                track("presence", self_pid(), self.topic, self.assigns["user"],
                      {"status": "online"})
                self.push("presence_state", list_presence("presence", self.topic))
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..lowlevel import instance_table, put_instance
from ..otp import ChildSpec
from ..pubsub import Broadcast, local_broadcast
from . import _tracker
from ._tracker import Tracker

__all__ = ["Presence", "list_presence", "group", "DIFF_WINDOW", "DIFF_RATE", "MAX_DIFF_WINDOW"]

#: Each running Presence's ``fetch`` (or None) by name: a live read-only
#: view of the named instances of kind ``"presence"``, owned, like the
#: tracker's own entry, by the Presence's supervisor process.
_fetchers = instance_table("presence")

#: The default coalescing window of a Presence's diffs, in seconds.
DIFF_WINDOW = 0.025
#: The default diff deliveries per topic per second a busy big topic's
#: window is sized for (its window: presences / DIFF_RATE, at least
#: DIFF_WINDOW): a room of 10,000 gets one diff a second while busy.
DIFF_RATE = 10_000.0
#: The default cap on a big topic's window, in seconds: how late, at most,
#: a member hears of a change while the room stays busy (once it is quiet
#: for DIFF_WINDOW, the diff goes out at once).
MAX_DIFF_WINDOW = 1.0


def group(entries: list, into: Optional[dict] = None) -> dict:
    """``[(key, meta), ...]`` → ``{str(key): {"metas": [meta, ...]}}``, in
    order (added to ``into`` if given)."""
    out: dict = {} if into is None else into
    for key, meta in entries:
        out.setdefault(str(key), {"metas": []})["metas"].append(meta)
    return out


class Listing(dict):
    """A topic's grouped presences as :func:`list_presence` shares them:
    built once per change of the topic and never changed after, which it
    declares (``frozen_payload``) so that a channel serializer may encode
    it once per topic version and reuse that encoding for every client it
    is pushed to as ``presence_state``.

    It also keeps each key's JSON text (:meth:`json_members`), carried
    from one version of the topic's listing to the next by
    :func:`_advance`, so that a version costs the JSON serializer the keys
    that changed plus a join, not an encode of all n presences.
    """

    __slots__ = ("_members",)
    frozen_payload = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # str(key) -> '"key":{"metas":[...]}', in this dict's order; None
        # until first asked for; when set, the keys it lacks are this
        # dict's last ones (see _advance)
        self._members: Optional[dict] = None

    def json_members(self, encode: Callable[[Any], str]) -> Any:
        """The JSON texts ``"key":value`` of this object's members, in
        order, with ``encode(value) -> str`` for what is not known yet."""
        members = self._members
        if members is None:
            members = self._members = {}
        missing = len(self) - len(members)
        if missing > 0:
            tail = []
            for key in reversed(self):
                tail.append(key)
                if len(tail) == missing:
                    break
            for key in reversed(tail):
                members[key] = encode(key) + ":" + encode(self[key])
        return members.values()


def _listing(entries: list) -> Listing:
    return group(entries, Listing())  # type: ignore[return-value]


def _advance(listing: Listing, joins: list, leaves: list) -> Listing:
    """The listing after one diff of its topic, as ``syncDiff`` applies it
    (a meta is known by its ``phx_ref``, which every tracked meta has): a
    new Listing sharing the keys the diff leaves alone, so its cost is one
    dict copy (C speed) plus the keys that changed, not a regrouping of
    the whole topic.  A changed key moves to the end, and only the
    unchanged keys' JSON texts are carried over, so the texts still
    follow the dict's order with the ones to make last.  ``listing`` is
    shared and stays as it was."""
    out = Listing(listing)
    changed: dict = {}       # str(key) -> its new metas list, made once per diff
    for entries, joining in ((leaves, False), (joins, True)):
        for key, meta in entries:
            k = str(key)
            metas = changed.get(k)
            if metas is None:
                old = out.get(k)
                metas = changed[k] = list(old["metas"]) if old is not None else []
            ref = meta.get("phx_ref")
            for i, m in enumerate(metas):
                if m.get("phx_ref") == ref:
                    del metas[i]
                    break
            if joining:
                metas.append(meta)
    members = listing._members
    if members is not None:
        members = dict(members)
    for k, metas in changed.items():
        out.pop(k, None)
        if members is not None:
            members.pop(k, None)
        if metas:
            out[k] = {"metas": metas}
    out._members = members
    return out


class Presence(Tracker):
    """A Tracker that broadcasts ``presence_diff``; see the module docstring.

    ``fetch(topic, grouped) -> grouped`` may enrich listed and diffed
    entries (Phoenix's ``fetch``: add user details next to ``metas``); it
    must return a new dict rather than change ``grouped``, which may be the
    cached listing other callers share.  ``diff_window`` is the coalescing
    window in seconds (:data:`DIFF_WINDOW` unless given); a busy topic
    of n presences gets ``n / diff_rate`` instead when that is longer, up
    to ``max_diff_window`` (:data:`DIFF_RATE`, :data:`MAX_DIFF_WINDOW`;
    ``diff_rate=0``: every topic gets ``diff_window``; see
    ``TrackerShard._due`` in the tracker for when such a window ends
    early).
    """

    @classmethod
    def child_spec(cls, name: str, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("presence", name), start=cls.start_link, args=(name,),
                         kwargs=opts, type="supervisor", shutdown="infinity")

    def init(self, name: str, pubsub: str, *,  # type: ignore[override]
             fetch: Optional[Callable[[str, dict], dict]] = None,
             diff_window: float = DIFF_WINDOW, diff_rate: float = DIFF_RATE,
             max_diff_window: float = MAX_DIFF_WINDOW, **opts: Any) -> Any:
        put_instance("presence", name, fetch)

        def handle_diff(topic: str, joins: list, leaves: list) -> None:
            j, lv = group(joins), group(leaves)
            if fetch is not None:
                j, lv = fetch(topic, j), fetch(topic, lv)
            local_broadcast(pubsub, topic,
                            Broadcast(topic, "presence_diff", {"joins": j, "leaves": lv}),
                            "fastlane")
        return super().init(name, pubsub, handle_diff=handle_diff, diff_window=diff_window,
                            diff_rate=diff_rate, max_diff_window=max_diff_window, **opts)


def list_presence(presence: str, topic: str) -> dict:
    """``{key: {"metas": [...]}}`` for ``topic``, enriched by ``fetch``.

    Without ``fetch`` the result is the topic's cached :class:`Listing`,
    shared with every other caller until the topic's next diff (see
    :func:`~beamish.presence._tracker.list_view`): read it, push
    it (its encoding is then made once per serializer, not once per
    push), never change it.
    """
    grouped = _tracker.list_view(presence, topic, _listing, _advance)
    fetch = _fetchers.get(presence)
    return fetch(topic, grouped) if fetch is not None else grouped
