"""The chat's socket: who is connecting (a signed token), and the room channel."""
from __future__ import annotations

import json
import re
import time

from beamish import node, send
from beamish import self as self_pid
from beamish.channels import Channel, Socket, TokenError, sign, verify
from beamish.presence import list_presence, track, update_presence

from . import room, settings

NAME = re.compile(r"^[\w .\-]{1,32}$")
MAX_BODY = 500
STATUSES = ("online", "away", "typing")
#: Messages a user may post per second in one room (a token bucket).
POST_RATE = 5.0


def token_handler(method: str, info) -> tuple:
    """``GET /api/token?name=NAME`` → ``{"token": ...}``: the page's login step.

    (A real app would authenticate here; the chat only checks the name.)
    """
    name = (info.query.get("name") or "").strip()
    if method not in ("GET", "HEAD"):
        return 405, "application/json", b'{"error":"use GET"}'
    if not NAME.match(name):
        return 400, "application/json", json.dumps(
            {"error": "a name is 1 to 32 letters, digits, spaces, dots or dashes"}).encode()
    token = sign(settings.secret, settings.TOKEN_SALT, name)
    return 200, "application/json", json.dumps({"token": token, "name": name}).encode()


class RoomChannel(Channel):
    """``room:NAME``: messages, history on join, presence with a status."""

    def join(self, topic, payload):
        name = topic.split(":", 1)[1]
        if not NAME.match(name):
            return ("error", {"reason": "bad room name"})
        self.room = name
        self.tokens, self.stamp = POST_RATE, time.monotonic()
        send(self_pid(), "after_join")
        return ("ok", {"messages": room.history(name), "user": self.assigns["user"],
                       "node": node()})

    def handle_info(self, msg):
        if msg == "after_join":
            track(settings.PRESENCE, self_pid(), self.topic, self.assigns["user"],
                  {"status": "online", "online_at": int(time.time())})
            self.push("presence_state", list_presence(settings.PRESENCE, self.topic))
            return None
        return super().handle_info(msg)

    def handle_in(self, event, payload, ref):
        if event == "new_msg":
            return self._new_msg(payload)
        if event == "status":
            status = payload.get("status") if isinstance(payload, dict) else None
            if status not in STATUSES:
                return ("error", {"reason": f"status must be one of {', '.join(STATUSES)}"})
            update_presence(settings.PRESENCE, self_pid(), self.topic, self.assigns["user"],
                            lambda meta: {**meta, "status": status})
            return ("ok", {})
        return ("error", {"reason": f"unknown event {event!r}"})

    def _new_msg(self, payload):
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            return ("error", {"reason": "body must be a string"})
        body = body.strip()
        if not body:
            return ("error", {"reason": "empty message"})
        if len(body) > MAX_BODY:
            return ("error", {"reason": f"message longer than {MAX_BODY} characters"})
        now = time.monotonic()
        self.tokens = min(POST_RATE, self.tokens + (now - self.stamp) * POST_RATE)
        self.stamp = now
        if self.tokens < 1:
            return ("error", {"reason": "slow down"})
        self.tokens -= 1
        msg = {"user": self.assigns["user"], "body": body, "at": int(time.time() * 1000)}
        self.broadcast("new_msg", msg)
        return ("ok", {})


class UserSocket(Socket):
    channels = [("room:*", RoomChannel)]

    def connect(self, params, connect_info):
        try:
            user = verify(settings.secret, settings.TOKEN_SALT, params.get("token", ""),
                          max_age=settings.TOKEN_MAX_AGE)
        except TokenError:
            return False
        return {"user": user}

    def id(self, assigns):
        return f"user_socket:{assigns['user']}"

