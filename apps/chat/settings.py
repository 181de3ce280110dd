"""Names and settings shared by the chat's modules."""
import logging

log = logging.getLogger(__name__)

PUBSUB = "chat"
PRESENCE = "chat_presence"
ROOMS = "chat_rooms"
ROOM_SUP = "chat_room_sup"
TOKEN_SALT = "chat user"
TOKEN_MAX_AGE = 7 * 24 * 3600

_DEV_SECRET = "beamish-chat-development-secret-change-me"
secret = _DEV_SECRET
history = 50


def configure(config) -> None:
    global secret, history
    history = config.history
    if config.secret:
        secret = config.secret
    else:
        secret = _DEV_SECRET
        log.warning("no --secret (or BEAMISH_CHAT_SECRET): tokens are signed with the "
                    "development secret; set one for anything but local use")
