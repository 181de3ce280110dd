"""The errors of the observer, in one place."""
from __future__ import annotations

from ..core import BeamishError

__all__ = ["ObserverError", "CookieError", "ObserverProtocolError", "AuthError", "NodeNotFound",
           "RemoteError", "EndpointError", "RuntimeDirError"]


class ObserverError(BeamishError):
    """Base class of the observer's errors."""


class CookieError(ObserverError):
    """The cookie file cannot be used: unreadable, empty, or readable by
    others (as Erlang, a cookie that is not private is refused)."""


class EndpointError(ObserverError):
    """The control endpoint cannot start: its socket path is unusable or a
    live node already listens there."""


class RuntimeDirError(EndpointError):
    """The runtime directory (``BEAMISH_RUNTIME_DIR``) exists but is not
    private to us: someone else's, or writable by group or others.  It is
    refused rather than changed; its message says what to do."""


class ObserverProtocolError(ObserverError):
    """Bytes from the peer are not a valid frame or not a valid message."""


class AuthError(ObserverError):
    """The node refused our cookie."""


class NodeNotFound(ObserverError):
    """No local node matches the name asked for (or several do)."""


class RemoteError(ObserverError):
    """The node answered a request with an error (its message says why)."""
