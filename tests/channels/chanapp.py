"""The channels test application: a socket and a channel exercising every
server behaviour the tests (Python and the official JS client) check."""
import gevent

from beamish import send_after
from beamish import Stop
from beamish.channels import Channel, Socket

SECRET = "test-secret"


class RoomChannel(Channel):
    intercept = ("censored",)

    def join(self, topic, payload):
        if topic == "room:forbidden":
            return ("error", {"reason": "unauthorized"})
        if topic == "room:crashjoin":
            raise RuntimeError("join blew up")
        self.assigns["nick"] = payload.get("nick", "anon") if isinstance(payload, dict) else "anon"
        if payload.get("after_join") if isinstance(payload, dict) else False:
            send_after(0, _self(), "after_join")
        return ("ok", {"welcome": True, "user": self.assigns.get("user")})

    def handle_in(self, event, payload, ref):
        match event:
            case "echo":
                return ("ok", {"echoed": payload})
            case "binary_echo":
                return ("ok", payload)
            case "shout":
                self.broadcast("shout", {"from": self.assigns["nick"], "body": payload.get("body")})
                return None
            case "shout_from":
                self.broadcast_from("shout", {"from": self.assigns["nick"],
                                              "body": payload.get("body")})
                return ("ok", {})
            case "censor":
                self.broadcast("censored", {"body": payload.get("body")})
                return None
            case "crash":
                raise RuntimeError("channel crash requested")
            case "stop":
                return Stop("normal", reply=("ok", {"bye": True}))
            case "slow":
                gevent.sleep(payload.get("seconds", 1))
                return ("ok", {})
        raise NotImplementedError(event)

    def handle_out(self, event, payload):
        self.push(event, {"body": payload["body"].replace("darn", "****")})

    def handle_info(self, msg):
        if msg == "after_join":
            self.push("presence_state", {"alice": {"metas": [{"phx_ref": "x"}]}})


def _self():
    from beamish import self
    return self()


class TestSocket(Socket):
    channels = [("room:*", RoomChannel)]
    max_rate = 50.0
    max_channels = 5

    def connect(self, params, connect_info):
        if params.get("token") == "bad":
            return False
        return {"user": params.get("user", "anon")}

    def id(self, assigns):
        return f"user_socket:{assigns['user']}"
