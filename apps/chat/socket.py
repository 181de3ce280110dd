"""The chat's socket: who is connecting (a signed token), and the room channel."""
from __future__ import annotations

import json
import re
import time
import unicodedata

from beamish import node, send
from beamish.channels import Channel, Socket, TokenError, sign, verify
from beamish.presence import list_presence, track
from beamish.presence import update as update_presence

from . import room, settings

#: What a user or room name may contain (checked whole: no trailing newline).
NAME = re.compile(r"[\w .\-]{1,32}")
NAME_RULE = "1 to 32 letters, digits, spaces, dots or dashes"
#: Characters that are letters to Unicode but show as blank (Hangul fillers),
#: so "\u3164" would pass for an empty name and "bob\u3164" for "bob".
FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
#: Invisible or unprintable categories: controls, format characters (zero
#: width, bidi controls), line and paragraph separators, private use,
#: surrogates and unassigned code points.
HIDDEN = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
MAX_BODY = 500
STATUSES = ("online", "away", "typing")
#: Messages a user may post per second in one room (and the burst allowed).
POST_RATE = 5.0
#: Status changes a user may make per second in one room, and the burst
#: allowed: a burst of typing/online/away is fine, a flood is refused.
STATUS_RATE, STATUS_BURST = 1.0, 4


def name_problem(name, what: str):
    r"""Why ``name`` may not be a user or room name (None if it may).

    Names are refused, never rewritten: a room name is the client's topic,
    which the server cannot change under it, and a user's token carries
    exactly the name the page sent and shows.  So they must already be in
    Unicode NFKC form (the page normalises before sending): one name has
    one spelling, and fullwidth or compatibility look-alikes of a name are
    not a second name.  Invisible characters, blank-looking letters and
    surrounding whitespace are refused, so that "lobby\n" or "bob\u200b"
    is not a second "lobby" or "bob".
    """
    if not isinstance(name, str) or not name:
        return f"a {what} name is {NAME_RULE}"
    if name != name.strip():
        return f"a {what} name may not start or end with whitespace"
    if any(c in FILLERS or unicodedata.category(c) in HIDDEN for c in name):
        return f"a {what} name may not contain control or invisible characters"
    if not unicodedata.is_normalized("NFKC", name):
        return f"a {what} name must be in Unicode NFKC form"
    if not NAME.fullmatch(name):
        return f"a {what} name is {NAME_RULE}"
    return None


class Bucket:
    """A token bucket: ``rate`` actions a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one (a refused action spends nothing)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def token_handler(method: str, info) -> tuple:
    """``GET /api/token?name=NAME`` → ``{"token": ...}``: the page's login step.

    (A real app would authenticate here; the chat only checks the name.)
    """
    name = info.query.get("name") or ""
    if method not in ("GET", "HEAD"):
        return 405, "application/json", b'{"error":"use GET"}'
    problem = name_problem(name, "user")
    if problem:
        return 400, "application/json", json.dumps({"error": problem}).encode()
    token = sign(settings.secret, settings.TOKEN_SALT, name)
    return 200, "application/json", json.dumps({"token": token, "name": name}).encode()


class RoomChannel(Channel):
    """``room:NAME``: messages, history on join, presence with a status.

    Each channel rate-limits its own posts and status changes (a token
    bucket each); a refused one gets ``{"reason": "slow down"}`` and is
    neither broadcast nor tracked.
    """

    def join(self, topic, payload):
        name = topic.split(":", 1)[1]
        problem = name_problem(name, "room")
        if problem:
            return ("error", {"reason": problem})
        try:
            messages = room.join(name, self.assigns["user"], self.pid)
        except room.RoomRefused as e:
            return ("error", {"reason": str(e)})
        self.room = name
        self.posts = Bucket(POST_RATE, POST_RATE)
        self.statuses = Bucket(STATUS_RATE, STATUS_BURST)
        self.status = "online"
        send(self.pid, "after_join")
        return ("ok", {"messages": messages, "user": self.assigns["user"], "node": node()})

    def handle_info(self, msg):
        if msg == "after_join":
            track(settings.PRESENCE, self.pid, self.topic, self.assigns["user"],
                  {"status": self.status, "online_at": int(time.time())})
            self.push("presence_state", list_presence(settings.PRESENCE, self.topic))
            return None
        return super().handle_info(msg)

    def handle_in(self, event, payload, ref):
        if event == "new_msg":
            return self._new_msg(payload)
        if event == "status":
            return self._status(payload)
        return ("error", {"reason": f"unknown event {event!r}"})

    def _status(self, payload):
        status = payload.get("status") if isinstance(payload, dict) else None
        if status not in STATUSES:
            return ("error", {"reason": f"status must be one of {', '.join(STATUSES)}"})
        if status == self.status:
            return ("ok", {})   # nothing changes, so nothing is sent to the room
        if not self.statuses.take():
            return ("error", {"reason": "slow down"})
        self.status = status
        update_presence(settings.PRESENCE, self.pid, self.topic, self.assigns["user"],
                        lambda meta: {**meta, "status": status})
        return ("ok", {})

    def _new_msg(self, payload):
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            return ("error", {"reason": "body must be a string"})
        body = body.strip()
        if not body:
            return ("error", {"reason": "empty message"})
        if len(body) > MAX_BODY:
            return ("error", {"reason": f"message longer than {MAX_BODY} characters"})
        if not self.posts.take():
            return ("error", {"reason": "slow down"})
        msg = {"user": self.assigns["user"], "body": body, "at": int(time.time() * 1000)}
        self.broadcast("new_msg", msg)
        return ("ok", {})


class UserSocket(Socket):
    channels = [("room:*", RoomChannel)]

    def connect(self, params, connect_info):
        """Accept a connection that carries a token signed by ``/api/token``.

        The token comes either as the ``token`` param (the page's client
        puts it in the URL) or as the bearer token of the official client's
        ``authToken`` option, which travels in the WebSocket subprotocol
        header: as Phoenix 1.8, the Endpoint hands that to ``connect`` as
        ``connect_info["auth_token"]``.
        """
        token = connect_info.get("auth_token") or params.get("token") or ""
        try:
            user = verify(settings.secret, settings.TOKEN_SALT, token,
                          max_age=settings.TOKEN_MAX_AGE)
        except TokenError:
            return False
        if name_problem(user, "user"):
            return False   # signed before names were checked as they are now
        return {"user": user}

    def id(self, assigns):
        return f"user_socket:{assigns['user']}"

