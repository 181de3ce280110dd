"""GenServer: a process that serves calls and casts, with its state on ``self``.

A subclass keeps its state in instance attributes and answers through the
callbacks ``init``, ``handle_call``, ``handle_cast``, ``handle_info``,
``handle_continue`` and ``terminate``.  What a callback returns says what
happens next; the small result types cover every case and a plain value is
the common one:

===================  =========================================================
return               meaning
===================  =========================================================
a value              ``handle_call``: reply with it.  Other callbacks: carry on
                     (``None`` is the usual value).
``Reply(v, ...)``    reply ``v``; options ``timeout=`` and ``continue_=``
``NoReply(...)``     no reply now (``handle_call`` replies later with
                     ``reply(from_, v)``); options ``timeout=``, ``continue_=``
``Stop(reason)``     stop with ``reason``, after ``terminate``; in
                     ``handle_call``, ``Stop(reason, reply=v)`` replies once
                     ``terminate`` has returned (as OTP)
``IGNORE``           ``init`` only: do not start; ``start_link`` returns None
===================  =========================================================

``init`` runs instead of ``__init__``, in the new process (a subclass
that defines ``__init__`` is refused when it is defined).  ``self.pid`` is
the server's own pid, set before ``init`` runs; ``pid`` is reserved (an
attribute or method of that name is refused), so use it rather than
``beamish.self``, whose name the method's ``self`` shadows.  A server's
``process_info`` shows ``Class.init`` as its initial call.

A request the class does not handle crashes the server, as an unmatched
clause does in Elixir: the base ``handle_call``, ``handle_cast`` and
``handle_continue`` raise :class:`UnknownRequest`, the caller gets
``CallExit`` and the supervisor restarts the server.  (An unexpected
*message* is only logged, as Elixir's default ``handle_info`` does.)

``timeout=t`` (seconds) delivers ``handle_info("timeout")`` if no message
arrives within ``t``; ``continue_=arg`` runs ``handle_continue(arg)``
before the next message is taken.

Example::

    class Counter(GenServer):
        def init(self, start=0):
            self.total = start

        def handle_call(self, request, from_):
            match request:
                case "get":
                    return self.total
                case ("add", n):
                    self.total += n
                    return Reply(self.total)

        def handle_cast(self, msg):
            self.total += msg

    pid = Counter.start_link(10, name="counter")
    cast("counter", 5)
    assert call("counter", "get") == 15
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from ..core import (ANY, Down, Exit, ExitMsg, Pid, demonitor, make_ref, monitor, receive, send,
                    spawn_opt, unlink)
from ..lowlevel import (await_reply, current_process, describe_process, end_call_monitor,
                        exit_pending, is_clean_exit, mark_reported, set_initial_call,
                        set_state_object, take_first, take_reply)
from ._child_spec import ChildSpec
from ._errors import BadGenServer, CallExit, CallTimeout, StartError, UnknownRequest
from ._names import register_name, resolve_name

log = logging.getLogger(__name__)

__all__ = ["GenServer", "Reply", "NoReply", "Stop", "IGNORE", "call", "cast", "reply", "stop",
           "start", "start_link", "start_server"]

_NOTHING = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """``handle_call`` result: reply ``value`` now."""

    value: Any = None
    timeout: Optional[float] = None
    continue_: Any = _NOTHING


@dataclass(frozen=True, slots=True)
class NoReply:
    """Callback result: no reply now (a call is answered later with ``reply``)."""

    timeout: Optional[float] = None
    continue_: Any = _NOTHING


@dataclass(frozen=True, slots=True)
class Stop:
    """Callback result: stop with ``reason`` (``handle_call`` may also reply,
    after ``terminate``)."""

    reason: Any = "normal"
    reply: Any = _NOTHING

    @property
    def has_reply(self) -> bool:
        """True if this ``Stop`` carries a reply (``Stop(reason, reply=v)``)."""
        return self.reply is not _NOTHING


class _Ignore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


IGNORE = _Ignore()

_CALL = "$gen_call"
_CAST = "$gen_cast"
_STOP = "$gen_stop"
_ACK = "$gen_ack"


#: Results of Elixir's ``init/1`` that, returned from ``init`` here, would
#: be taken as "started" with the tuple thrown away.
_ELIXIR_INIT = ("ok", "stop")


class GenServer:
    """Base class of generic servers; see the module docstring.

    Reserved attribute: ``pid``, the server's own pid (read-only).
    """

    #: Child-spec defaults used when the class is listed in a supervisor.
    restart: str = "permanent"
    shutdown: Any = 5000
    child_type: str = "worker"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, where the class is written, what would silently not work."""
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            raise BadGenServer(
                f"{cls.__qualname__} defines __init__, which a GenServer never runs: "
                f"rename it to init(self, ...); it runs in the server's process and "
                f"gets the arguments given to start_link")
        if "pid" in cls.__dict__:
            raise BadGenServer(
                f"{cls.__qualname__} defines 'pid', which GenServer reserves for the "
                f"server's own pid (self.pid): choose another name")

    @property
    def pid(self) -> Pid:
        """This server's pid; set before ``init`` runs."""
        return self._GenServer__pid

    @pid.setter
    def pid(self, value: Any) -> None:
        raise BadGenServer(
            f"{type(self).__qualname__}.pid is reserved for the server's own pid: "
            f"store {value!r} under another name")

    # ------------------------------------------------------------ callbacks
    def init(self, *args: Any, **kwargs: Any) -> Any:
        """Set up state; runs in the new process before ``start`` returns."""
        return None

    def handle_call(self, request: Any, from_: tuple) -> Any:
        raise UnknownRequest(type(self).__qualname__, "handle_call", request)

    def handle_cast(self, msg: Any) -> Any:
        raise UnknownRequest(type(self).__qualname__, "handle_cast", msg)

    def handle_info(self, msg: Any) -> Any:
        log.warning("%s %r received an unexpected message: %r",
                    type(self).__name__, current_process().pid, msg)

    def handle_continue(self, arg: Any) -> Any:
        raise UnknownRequest(type(self).__qualname__, "handle_continue", arg)

    def terminate(self, reason: Any) -> None:
        """Runs on ``stop``, on a ``Stop`` result, when a callback fails (an
        exception, its own ``exit(reason)``, a failed nested ``call``), and
        on the parent's exit signal when the server traps exits.  An exit
        signal that is not trapped ends the server without it (as OTP)."""

    # ------------------------------------------------------------- starting
    @classmethod
    def start_link(cls, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
        """Start a linked server; returns its pid, or None if ``init`` ignored.

        Raises:
            StartError: ``init`` returned ``Stop`` or raised.
        """
        return start_server(cls, args, kwargs, name=name, link=True)

    @classmethod
    def start(cls, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
        """As :meth:`start_link`, without the link.  The server is then its
        own parent (as OTP's): the starter's exit signals are not its
        parent's, so a trapping server gets them in ``handle_info``."""
        return start_server(cls, args, kwargs, name=name, link=False)

    @classmethod
    def child_spec(cls, *args: Any, **kwargs: Any):
        """The child spec a supervisor uses for ``cls`` (or ``(cls, *args)``)."""
        return ChildSpec(id=cls, start=cls.start_link, args=args, kwargs=kwargs,
                         restart=cls.restart, shutdown=cls.shutdown, type=cls.child_type)


def start_server(cls: type, args: tuple = (), kwargs: Optional[dict] = None, *, name: Any = None,
                 link: bool = True) -> Optional[Pid]:
    """Start a server of ``cls`` running ``init(*args, **kwargs)``, as
    ``gen_server:start_link(Module, Args)``: what ``cls.start_link`` does
    by default, for a class whose own ``start_link``/``start`` takes other
    arguments.  ``link=False`` starts it unlinked (``start``).

    Returns its pid, or None if ``init`` returned ``IGNORE``.

    Raises:
        StartError: ``init`` returned ``Stop``, raised, or the name is taken.
    """
    if kwargs is None:
        kwargs = {}
    me = current_process()
    ack = make_ref()
    pid, ref = spawn_opt(_server_main, (cls, args, kwargs, me.pid, ack, name, link), link=link,
                         monitor=True)
    set_initial_call(pid, f"{cls.__module__}:{cls.__qualname__}.init")
    msg = receive((_ACK, ack, ANY), ("DOWN", ref, ANY, ANY, ANY))
    if msg[0] == "DOWN":
        raise StartError(msg.reason)
    demonitor(ref, flush=True)
    status, value = msg[2]
    if status == "ok":
        return pid
    if link:
        # The server unlinked itself before it exited: nothing to flush but
        # an EXIT a trapping caller might have got in the same instant.
        take_first(me, ("EXIT", pid, ANY))
    if status == "ignore":
        return None
    raise StartError(value)


def start_link(cls: type, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
    """``cls.start_link(*args, name=name, **kwargs)``."""
    return cls.start_link(*args, name=name, **kwargs)


def start(cls: type, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
    """``cls.start(*args, name=name, **kwargs)``."""
    return cls.start(*args, name=name, **kwargs)


# ------------------------------------------------------------ server loop
def _server_main(cls: type, args: tuple, kwargs: dict, starter: Pid, ack_ref: Any, name: Any,
                 linked: bool) -> None:
    me = current_process()
    # The starter learns the outcome of init; the parent is whose exit
    # signal stops the server: the starter if linked, else no one but itself.
    parent = starter if linked else me.pid
    if name is not None:
        try:
            register_name(name, me.pid)
        except Exception as e:
            if linked:
                unlink(starter)
            try:
                holder = resolve_name(name)
            except Exception:
                holder = None
            send(starter, (_ACK, ack_ref, ("error", ("already_started", holder or e))))
            return
    server = cls.__new__(cls)
    server._GenServer__pid = me.pid
    set_state_object(server)
    try:
        res = server.init(*args, **kwargs)
        if res.__class__ is tuple and 2 <= len(res) <= 3 and res[0] in _ELIXIR_INIT \
                or res.__class__ is str and res == "ignore":
            raise BadGenServer(
                f"{cls.__qualname__}.init returned {res!r}, an Elixir-style result: keep "
                f"state on self and return nothing (or NoReply(...), Stop(reason), IGNORE)")
    except Exit:
        raise
    except Exception as e:
        if linked:
            unlink(starter)
        send(starter, (_ACK, ack_ref, ("error", e)))
        raise
    if res is IGNORE or isinstance(res, Stop):
        if linked:
            unlink(starter)
        if res is IGNORE:
            send(starter, (_ACK, ack_ref, ("ignore", None)))
            return
        send(starter, (_ACK, ack_ref, ("error", res.reason)))
        raise Exit(res.reason)
    send(starter, (_ACK, ack_ref, ("ok", me.pid)))
    timeout = None
    cont = _NOTHING
    if isinstance(res, NoReply):
        timeout, cont = res.timeout, res.continue_
    _loop(server, me, parent, timeout, cont)


class _Stopping(Exception):
    """A callback asked to stop: with ``reason``, and for a ``handle_call``
    ``Stop(reason, reply=v)``, replying ``v`` to ``from_`` after terminate."""

    def __init__(self, reason: Any, from_: Any = None, reply: Any = _NOTHING) -> None:
        self.reason = reason
        self.from_ = from_
        self.reply = reply


def _loop(server: GenServer, me: Any, parent: Pid, timeout: Optional[float], cont: Any) -> None:
    msg: Any = None
    try:
        while True:
            while cont is not _NOTHING:
                arg, cont = cont, _NOTHING
                timeout, cont = _after(server.handle_continue(arg), None)
            if timeout is None:
                msg = receive()
            else:
                msg = receive(timeout=timeout, default=_NOTHING)
                if msg is _NOTHING:
                    msg = "timeout"
                    timeout, cont = _after(server.handle_info(msg), None)
                    continue
            if msg.__class__ is tuple and msg:
                tag = msg[0]
                if tag == _CALL:
                    from_ = msg[1]
                    res = server.handle_call(msg[2], from_)
                    cls = res.__class__
                    if cls is Reply:
                        reply(from_, res.value)
                        timeout, cont = res.timeout, res.continue_
                    elif cls is NoReply:
                        timeout, cont = res.timeout, res.continue_
                    elif cls is Stop:
                        raise _Stopping(res.reason, from_, res.reply)
                    else:
                        reply(from_, res)
                        timeout = None
                    continue
                if tag == _CAST:
                    timeout, cont = _after(server.handle_cast(msg[1]), None)
                    continue
                if tag == _STOP:
                    raise _Stopping(msg[1])
            elif msg.__class__ is ExitMsg and msg.pid == parent and me.trap:
                raise _Stopping(msg.reason)
            timeout, cont = _after(server.handle_info(msg), None)
    except _Stopping as s:
        try:
            _terminate(server, s.reason, msg)
        finally:
            # OTP replies to {stop, Reason, Reply, State} after terminate,
            # whether or not terminate succeeds.
            if s.reply is not _NOTHING:
                reply(s.from_, s.reply)
        raise Exit(s.reason) from None
    except Exit as e:
        if exit_pending(me):
            # An exit signal from outside, not trapped: the server dies at
            # once, without terminate (as OTP).
            raise
        # The callback's own exit(reason), or a nested call or task await
        # that failed: a callback failure like any other, reported with
        # the failed call's own traceback (where the callback made it).
        _terminate(server, e.reason, msg, e)
        raise
    except Exception as e:
        if exit_pending(me):
            raise   # killed meanwhile: the signal's reason wins, no terminate
        _terminate(server, e, msg, e)
        # Reported above: end as an exit with the same reason, so the
        # runtime does not log the crash a second time.
        raise Exit(e) from None


def _after(res: Any, _unused: Any) -> tuple:
    cls = res.__class__
    if cls is NoReply:
        return res.timeout, res.continue_
    if cls is Stop:
        raise _Stopping(res.reason)
    if cls is Reply:
        raise TypeError("Reply is only a handle_call result")
    return None, _NOTHING


def _terminate(server: GenServer, reason: Any, last: Any, cause: Any = None) -> None:
    """Run ``terminate`` and, for an abnormal ``reason``, log the one
    report of the server's end (Elixir's "GenServer ... terminating").

    ``cause`` is the exception that ended the callback: the crash itself,
    or the ``Exit`` of a failed nested call (whose message says which call
    failed and whose traceback is where the callback made it).
    """
    me = current_process()
    try:
        server.terminate(reason)
    except Exception as e:
        mark_reported(e)
        log.error("GenServer %s (%s) crashed in terminate: %r", describe_process(me),
                  type(server).__qualname__, e, exc_info=e,
                  extra={"beamish_pid": repr(me.pid)})
        raise Exit(e) from None
    if is_clean_exit(reason):
        return
    if not isinstance(cause, BaseException):
        cause = reason if isinstance(reason, BaseException) else None
    if cause is None:
        why = f"** (stop) {reason!r}"
    elif isinstance(cause, Exit):
        why = f"** (stop) {cause}" if isinstance(cause, CallExit) \
            else f"** (exit) {cause.reason!r}"
    else:
        why = f"** ({type(cause).__name__}) {cause}"
    if cause is not None:
        mark_reported(cause)
        if cause is not reason and isinstance(reason, BaseException):
            mark_reported(reason)
    log.error("GenServer %s (%s) terminating\n%s\nLast message: %r",
              describe_process(me), type(server).__qualname__, why, last,
              exc_info=(type(cause), cause, cause.__traceback__) if cause is not None
              else None,
              extra={"beamish_pid": repr(me.pid)})


# -------------------------------------------------------------- client API
def _whereis(server: Any) -> Optional[Pid]:
    if server.__class__ is Pid:
        return server
    return resolve_name(server)


def call(server: Any, request: Any, timeout: Optional[float] = 5.0) -> Any:
    """Send ``request`` to ``server`` and wait for its reply.

    ``server`` is a pid, a registered name or a ``("via", registry, key)``
    name.  ``timeout`` is in seconds (None waits for ever).

    Raises:
        CallExit: the server is not alive (reason ``"noproc"``) or ended
            while serving the call (reason: the server's).
        CallTimeout: no reply within ``timeout``; a late reply is dropped,
            never delivered to the caller's mailbox.
    """
    pid = _whereis(server)
    if pid is None:
        raise CallExit("noproc", server, request)
    me = current_process()
    if pid == me.pid:
        raise CallExit("calling_self", server, request)
    ref = monitor(pid, alias=True)
    send(pid, (_CALL, (me.pid, ref), request))
    msg = await_reply(ref, timeout)
    if msg is None:
        end_call_monitor(me, ref)
        # A reply that raced the timeout may already be queued: drop it.
        take_reply(me, ref)
        raise CallTimeout("timeout", server, request)
    if msg.__class__ is Down:
        raise CallExit(msg.reason, server, request)
    end_call_monitor(me, ref)
    return msg[1]


def cast(server: Any, msg: Any) -> None:
    """Send ``msg`` to ``server`` without waiting; never fails (as OTP)."""
    try:
        pid = _whereis(server)
        if pid is not None:
            send(pid, (_CAST, msg))
    except Exception as e:  # a cast never fails, whatever the name's registry does
        log.debug("cast to %r dropped: %r", server, e)


def reply(from_: tuple, value: Any) -> None:
    """Answer a call that ``handle_call`` left pending with ``NoReply``."""
    ref = from_[1]
    send(ref, (ref, value))


def stop(server: Any, reason: Any = "normal", timeout: Optional[float] = None) -> None:
    """Stop ``server`` with ``reason``, after its ``terminate``; waits for it.

    Raises:
        CallExit: the server was not alive (``"noproc"``), ended with
            another reason, or is the caller itself (``"calling_self"``:
            it would wait for its own end for ever, so OTP refuses).
        CallTimeout: it did not end within ``timeout`` seconds.
    """
    pid = _whereis(server)
    if pid is None:
        raise CallExit("noproc", server, ("stop", reason), "stop")
    if pid == current_process().pid:
        raise CallExit("calling_self", server, ("stop", reason), "stop")
    ref = monitor(pid)
    send(pid, (_STOP, reason))
    msg = receive(("DOWN", ref, ANY, ANY, ANY), timeout=timeout, default=_NOTHING)
    if msg is _NOTHING:
        demonitor(ref, flush=True)
        raise CallTimeout("timeout", server, ("stop", reason), "stop")
    if msg.reason == "noproc":
        raise CallExit("noproc", server, ("stop", reason), "stop")
    if msg.reason is not reason and msg.reason != reason:
        raise CallExit(msg.reason, server, ("stop", reason), "stop")
