"""Names and settings shared by the chat's modules."""
import logging

log = logging.getLogger(__name__)

PUBSUB = "chat"
PRESENCE = "chat_presence"
ROOMS = "chat_rooms"
ROOM_SUP = "chat_room_sup"
ROOM_STARTER = "chat_room_starter"
#: The window of the per-user room-start limit, in seconds.
ROOM_WINDOW = 60.0
TOKEN_SALT = "chat user"
TOKEN_MAX_AGE = 7 * 24 * 3600

_DEV_SECRET = "beamish-chat-development-secret-change-me"
secret = _DEV_SECRET
history = 50
#: Seconds an empty room (no channel joined here, nothing posted) lives on.
room_idle = 60.0
#: Rooms one user may start per ROOM_WINDOW.
rooms_per_user = 10
#: Rooms open at once on this node.
max_rooms = 1000


def configure(config) -> None:
    global secret, history, room_idle, rooms_per_user, max_rooms
    history = config.history
    room_idle = config.room_idle
    rooms_per_user = config.rooms_per_user
    max_rooms = config.max_rooms
    if config.secret:
        secret = config.secret
    else:
        secret = _DEV_SECRET
        log.warning("no --secret (or BEAMISH_CHAT_SECRET): tokens are signed with the "
                    "development secret; set one for anything but local use")
