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
changed in it, encoded once per serializer through the fastlane; and
:func:`list_presence` builds a topic's grouped list once per window of the
topic (it may lag by up to a window: what it misses is in the topic's
next ``presence_diff``, which a channel subscribed to the topic before
listing it receives), however many joiners ask for it, as a frozen
payload that the channel serializers encode once for all their pushes
of it as ``presence_state``.

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

__all__ = ["Presence", "list_presence", "group", "DIFF_WINDOW"]

#: Each running Presence's ``fetch`` (or None) by name: a live read-only
#: view of the named instances of kind ``"presence"``, owned, like the
#: tracker's own entry, by the Presence's supervisor process.
_fetchers = instance_table("presence")

#: The default coalescing window of a Presence's diffs, in seconds.
DIFF_WINDOW = 0.025


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
    is pushed to as ``presence_state``."""

    __slots__ = ()
    frozen_payload = True


def _listing(entries: list) -> Listing:
    return group(entries, Listing())  # type: ignore[return-value]


class Presence(Tracker):
    """A Tracker that broadcasts ``presence_diff``; see the module docstring.

    ``fetch(topic, grouped) -> grouped`` may enrich listed and diffed
    entries (Phoenix's ``fetch``: add user details next to ``metas``); it
    must return a new dict rather than change ``grouped``, which may be the
    cached listing other callers share.  ``diff_window`` is the coalescing
    window in seconds (:data:`DIFF_WINDOW` unless given).
    """

    @classmethod
    def child_spec(cls, name: str, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("presence", name), start=cls.start_link, args=(name,),
                         kwargs=opts, type="supervisor", shutdown="infinity")

    def init(self, name: str, pubsub: str, *,  # type: ignore[override]
             fetch: Optional[Callable[[str, dict], dict]] = None,
             diff_window: float = DIFF_WINDOW, **opts: Any) -> Any:
        put_instance("presence", name, fetch)

        def handle_diff(topic: str, joins: list, leaves: list) -> None:
            j, lv = group(joins), group(leaves)
            if fetch is not None:
                j, lv = fetch(topic, j), fetch(topic, lv)
            local_broadcast(pubsub, topic,
                            Broadcast(topic, "presence_diff", {"joins": j, "leaves": lv}),
                            "fastlane")
        return super().init(name, pubsub, handle_diff=handle_diff, diff_window=diff_window,
                            **opts)


def list_presence(presence: str, topic: str) -> dict:
    """``{key: {"metas": [...]}}`` for ``topic``, enriched by ``fetch``.

    Without ``fetch`` the result is the topic's cached :class:`Listing`,
    shared with every other caller until the topic's next diff (see
    :func:`~beamish.presence._tracker.list_view`): read it, push
    it (its encoding is then made once per serializer, not once per
    push), never change it.
    """
    grouped = _tracker.list_view(presence, topic, _listing)
    fetch = _fetchers.get(presence)
    return fetch(topic, grouped) if fetch is not None else grouped
