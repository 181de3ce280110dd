"""Where nodes listen and where the cookie lives.

Every node's control socket is a Unix domain socket in one per-user
directory, named after the node, so ``beamish observer NAME`` finds local
nodes by listing it.  The directory is made mode 0700; an existing one must
be ours and not writable by group or others, and is never changed:

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

from ._errors import CookieError, EndpointError, RuntimeDirError

__all__ = ["runtime_dir", "socket_path", "node_label", "cookie_path", "read_cookie",
           "local_nodes", "SOCKET_SUFFIX", "DEFAULT_NODE"]

SOCKET_SUFFIX = ".sock"
DEFAULT_NODE = "nonode@nohost"
# sockaddr_un.sun_path is 108 bytes on Linux, including the final NUL.
_SUN_PATH_MAX = 107


def runtime_dir(create: bool = False) -> str:
    """The directory holding the nodes' control sockets.

    With ``create``, make it (mode 0700) if missing, and check it if it
    exists: it must be a directory owned by us that neither group nor others
    can write (else anyone could plant or remove sockets in it).  An
    existing directory is never changed: pointing ``BEAMISH_RUNTIME_DIR`` at
    a shared one such as ``/tmp`` must not chmod it.

    Raises:
        RuntimeDirError: the existing directory is unusable as it is.
    """
    path = os.environ.get("BEAMISH_RUNTIME_DIR")
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        path = os.path.join(xdg, "beamish") if xdg else os.path.join(
            os.path.expanduser("~"), ".beamish", "nodes")
    if create:
        _make_private_dir(path)
    return path


def _make_private_dir(path: str) -> None:
    """Create ``path`` mode 0700 (its parents as ``makedirs`` does), or
    check that the existing one is private enough (see :func:`runtime_dir`)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(path, 0o700)   # ours: 0700 whatever the umask
        return
    fix = "set BEAMISH_RUNTIME_DIR to a directory of your own (mkdir -m 700 DIR)"
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"runtime directory {path} is not a directory; {fix}")
    if st.st_uid != os.getuid():
        raise RuntimeDirError(f"runtime directory {path} belongs to uid {st.st_uid}, not to "
                              f"us ({os.getuid()}); {fix}")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise RuntimeDirError(f"runtime directory {path} is writable by group or others "
                              f"(mode {mode:o}), so anyone could replace a node's socket; "
                              f"{fix}, or chmod go-w it yourself")


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
