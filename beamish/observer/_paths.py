"""Where nodes listen and where the cookie lives.

Every node's control socket is a Unix domain socket in one per-user
directory (mode 0700), named after the node, so ``beamish observer NAME``
finds local nodes by listing it:

* ``$BEAMISH_RUNTIME_DIR`` if set (tests use it);
* else ``$XDG_RUNTIME_DIR/beamish`` when ``XDG_RUNTIME_DIR`` is set;
* else ``~/.beamish/nodes``.

The cookie is a random secret shared by the nodes and observers of one
user, as Erlang's ``~/.erlang.cookie``: ``$BEAMISH_COOKIE_FILE`` or
``~/.beamish/cookie``.  It is created (mode 0600) the first time it is
needed, and refused if anyone but its owner can read it.
"""
from __future__ import annotations

import os
import secrets
import stat
from typing import Optional

from ._errors import CookieError, EndpointError

__all__ = ["runtime_dir", "socket_path", "node_label", "cookie_path", "read_cookie",
           "local_nodes", "SOCKET_SUFFIX", "DEFAULT_NODE"]

SOCKET_SUFFIX = ".sock"
DEFAULT_NODE = "nonode@nohost"
# sockaddr_un.sun_path is 108 bytes on Linux, including the final NUL.
_SUN_PATH_MAX = 107


def runtime_dir(create: bool = False) -> str:
    """The directory holding the nodes' control sockets.

    With ``create``, make it (mode 0700) if missing and tighten its mode if
    it is ours and looser.  Raises :class:`EndpointError` if it belongs to
    someone else.
    """
    path = os.environ.get("BEAMISH_RUNTIME_DIR")
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        path = os.path.join(xdg, "beamish") if xdg else os.path.join(
            os.path.expanduser("~"), ".beamish", "nodes")
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
        if st.st_uid != os.getuid():
            raise EndpointError(f"runtime directory {path} belongs to uid {st.st_uid}, "
                                f"not to us ({os.getuid()})")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, 0o700)
    return path


def node_label(node: str, os_pid: Optional[int] = None) -> str:
    """The name a node's socket goes by: the node name, and for nodes left
    with the default name, the OS pid too (they would all collide)."""
    if node == DEFAULT_NODE:
        return f"{node}-{os.getpid() if os_pid is None else os_pid}"
    return node


def socket_path(label: str, directory: Optional[str] = None) -> str:
    """The control socket path for a node label.

    Raises:
        EndpointError: the label cannot be a file name, or the path is too
            long for a Unix socket.
    """
    if not label or "/" in label or label.startswith("."):
        raise EndpointError(f"node name {label!r} cannot name a control socket")
    path = os.path.join(directory or runtime_dir(), label + SOCKET_SUFFIX)
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise EndpointError(f"control socket path {path!r} is longer than a Unix socket "
                            f"allows ({_SUN_PATH_MAX} bytes); set BEAMISH_RUNTIME_DIR")
    return path


def local_nodes(directory: Optional[str] = None) -> list:
    """Labels of the control sockets present, sorted (stale ones included:
    a node killed with SIGKILL leaves its socket behind)."""
    path = directory or runtime_dir()
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return sorted(n[:-len(SOCKET_SUFFIX)] for n in names if n.endswith(SOCKET_SUFFIX))


def cookie_path() -> str:
    """The cookie file's path."""
    return os.environ.get("BEAMISH_COOKIE_FILE") or os.path.join(
        os.path.expanduser("~"), ".beamish", "cookie")


def read_cookie(create: bool = True) -> str:
    """The cookie; with ``create``, make a random one (0600) if missing.

    Raises:
        CookieError: the file is readable or writable by group or others,
            is empty, or (without ``create``) does not exist.
    """
    path = cookie_path()
    if create and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another node made it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
    try:
        st = os.stat(path)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise CookieError(f"cookie file {path} must be accessible by its owner only "
                              f"(mode is {stat.S_IMODE(st.st_mode):o}; chmod 600 it)")
        with open(path) as f:
            cookie = f.read().strip()
    except OSError as e:
        raise CookieError(f"cannot read the cookie file {path}: {e}") from None
    if not cookie:
        raise CookieError(f"cookie file {path} is empty")
    return cookie
