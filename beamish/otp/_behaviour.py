"""The process-behaviour base: what every behaviour process shares.

OTP splits a server in three: ``proc_lib`` starts the process (the
acknowledged start, the parent, crash reports), ``gen`` and ``sys`` carry
the call/reply protocol and the system messages, and a behaviour module
(``gen_server``) turns messages into callbacks of the user's module.  This
module is the first two; a :class:`Behaviour` subclass is the third.
GenServer, the channel process and the socket process are behaviours, so
they start, stop, crash, report and answer ``get_state`` alike.

Starting
    :func:`start_behaviour` spawns the process (linked or not, with a
    registered name or not) and waits for its acknowledgement: the new
    process makes the user's object (``cls.__new__``, never ``__init__``),
    runs the behaviour's ``init`` and tells its starter how it went.  A
    process spawned some other way becomes a behaviour process with
    :func:`enter_loop` (OTP's ``gen_server:enter_loop``).  The *parent*
    is the starter of a linked start, else the process itself: only the
    parent's exit signal, when the process traps exits, stops it with
    ``terminate``.

Init results
    ``init`` returns the value the starter gets, or raises
    :class:`InitIgnored` (the process ends normally, nothing was started)
    or :class:`InitStopped` (it ends with the reason, the start failed).
    An exception from ``init`` fails the start too, with the exception.

The loop
    Everything a process keeps between two messages is in its :class:`Loop`
    record: the behaviour, the user's object, the parent, the receive
    timeout and a pending continuation.  :func:`step` is one turn: run the
    continuation, or take one message, answer it if it is a system
    message, else hand it to the behaviour's ``dispatch``, and handle the
    result (``NoReply``/``Reply``: the next timeout and continuation;
    ``Stop``: stop; anything else: wait for the next message).  Nothing
    lives on the stack between two turns, so this is where hibernation
    gives the greenlet back and resumes the loop on another.

Hibernation
    A ``Reply``/``NoReply`` with ``hibernate=True`` (gen_server's
    ``hibernate`` in ``{reply, R, S, hibernate}``) hibernates the process
    (:func:`beamish.core.hibernate`) once the result is handled (after a
    continuation, if it asked for one); the ``hibernate_after`` start
    option does it after that many seconds without a message (OTP's
    ``{hibernate_after, T}``).  A receive timeout still pending then is
    kept by a ``send_after`` timer aimed at the process, so the timeout
    callback runs as if the process had waited awake.  A woken process
    runs :meth:`Behaviour.run` again, which is where a behaviour puts a
    ``try`` that must hold for as long as the process lives.

Ending
    ``terminate`` runs on a ``Stop`` result, on :func:`stop`, when a
    callback fails (an exception, its own ``exit``, a failed nested call)
    and on the parent's exit signal when trapping exits; an exit signal
    that is not trapped ends the process at once, without it (as OTP).  An
    abnormal end is reported once, by the base, naming the behaviour, the
    process (with its label) and the user's class.

System messages
    ``(SYSTEM, from_, request)`` is answered by the base whatever the
    behaviour: :func:`get_state`, :func:`get_status`,
    :func:`replace_state` and :func:`stop` (OTP's ``sys``).
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..core import (ANY, BeamishError, Exit, ExitMsg, Pid, cancel_timer, demonitor,
                   hibernate, make_ref, monitor, receive, send, send_after)
from ..core import exit as exit_signal
from ..core import node, spawn_opt, unlink
from ..lowlevel import (call_process, current_process, describe_process, exit_pending,
                        is_clean_exit, mark_reported, set_initial_call, set_state_object, tags,
                        take_first)
from ._errors import CallExit, CallTimeout, StartError
from ._names import register_name, resolve_name

log = logging.getLogger(__name__)

__all__ = ["Behaviour", "IGNORE", "Loop", "InitIgnored", "InitStopped", "NoReply", "Reply", "Stop",
           "SysStatus", "NOTHING", "start_behaviour", "enter_loop", "serve", "step", "stopping",
           "gen_call",
           "reply", "stop", "get_state", "get_status", "replace_state", "whereis_server"]

_SYSTEM = tags.SYSTEM
_ACK = tags.START_ACK

#: "No continuation" (and "no reply") marker: ``None`` is a valid argument.
NOTHING = object()


# ------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Reply:
    """``handle_call`` result: reply ``value`` now."""

    value: Any = None
    timeout: Optional[float] = None
    continue_: Any = NOTHING
    #: Hibernate once the reply is sent (gen_server's ``hibernate``).
    hibernate: bool = False


@dataclass(frozen=True, slots=True)
class NoReply:
    """Callback result: no reply now (a call is answered later with ``reply``)."""

    timeout: Optional[float] = None
    continue_: Any = NOTHING
    #: Hibernate now (gen_server's ``hibernate``).
    hibernate: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    """Callback result: stop with ``reason`` (``handle_call`` may also reply,
    after ``terminate``)."""

    reason: Any = "normal"
    reply: Any = NOTHING

    @property
    def has_reply(self) -> bool:
        """True if this ``Stop`` carries a reply (``Stop(reason, reply=v)``)."""
        return self.reply is not NOTHING


class _Ignore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


#: ``init`` result (of a GenServer): do not start.
IGNORE = _Ignore()


class InitIgnored(BeamishError):
    """Raised by a behaviour's ``init``: do not start; the process ends
    normally and its starter gets ``("ignore", value)``."""

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.value = value


class InitStopped(BeamishError):
    """Raised by a behaviour's ``init``: the start failed; the process ends
    with ``reason`` and its starter gets ``("error", reason)``."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SysStatus:
    """What :func:`get_status` returns (OTP's ``sys:get_status``)."""

    pid: Pid
    #: The behaviour's name: ``"GenServer"``, ``"channel"``, ``"socket"``.
    behaviour: str
    #: The user's class, ``"module:Class"``.
    callback: str
    #: ``"running"`` (it answered, so it is between two messages).
    status: str
    parent: Pid
    name: Optional[str]
    label: Any
    state: Any


# ----------------------------------------------------------- behaviour
class Behaviour:
    """How one kind of behaviour process turns messages into callbacks.

    One instance serves every process of its kind: it holds no per-process
    data (that is the :class:`Loop`'s).  Override ``init`` and
    ``dispatch``; the rest have defaults that suit an object with a
    ``terminate(reason)`` method.
    """

    #: What reports and ``get_status`` call this kind of process.
    name = "behaviour"
    #: The user callback shown as the initial call: ``module:Class.<entry>``.
    entry = "init"

    def init(self, loop: "Loop", args: tuple, kwargs: dict) -> Any:
        """Run the user's initialisation in the new process; return what
        the starter gets (or raise :class:`InitIgnored`/:class:`InitStopped`).
        May set ``loop.timeout`` and ``loop.cont``."""
        raise NotImplementedError

    def dispatch(self, loop: "Loop", msg: Any) -> Any:
        """Handle one message (never a system message, nor the parent's
        trapped exit); return a result (see :func:`step`)."""
        raise NotImplementedError

    def timeout(self, loop: "Loop") -> Any:
        """No message came within ``loop.timeout``; return a result."""
        return None

    def resume(self, loop: "Loop", cont: Any) -> Any:
        """Run the continuation ``cont`` a result asked for; return a result."""
        raise NotImplementedError

    def run(self, loop: "Loop") -> None:
        """Serve ``loop`` until it ends (:func:`serve`): the process's body,
        entered when it starts and again each time it wakes from
        hibernation.  Override to wrap :func:`serve` in what must hold as
        long as the process lives (a ``try`` releasing a resource however
        it ends); let ``beamish.lowlevel.is_hibernate_unwind`` exceptions
        through untouched: the process does not end there."""
        serve(loop)

    def terminate(self, loop: "Loop", reason: Any) -> None:
        """Run the user's ``terminate(reason)``."""
        loop.obj.terminate(reason)

    def state(self, loop: "Loop") -> Any:
        """What :func:`get_state` returns: the user's object."""
        return loop.obj

    def replace_state(self, loop: "Loop", new: Any) -> None:
        """Make ``new`` the process's state (:func:`replace_state`); raise
        to refuse it (the state is then left as it was)."""
        loop.obj = new
        set_state_object(new)

    def callback_class(self, obj: Any) -> type:
        """The user's class behind state object ``obj``, named in the
        initial call, in crash reports and by :func:`get_status`."""
        return type(obj)

    def initial_call(self, cls: type) -> str:
        """The initial call shown for a process of user class ``cls``."""
        return f"{cls.__module__}:{cls.__qualname__}.{self.entry}"


class Loop:
    """All a behaviour process keeps between two messages (see :func:`step`)."""

    __slots__ = ("kind", "obj", "me", "parent", "timeout", "cont", "last", "hibernate_after",
                 "hib", "tick")

    def __init__(self, kind: Behaviour, obj: Any, me: Any, parent: Pid) -> None:
        self.kind = kind
        self.obj = obj
        self.me = me                  # the process's own record
        self.parent = parent
        self.timeout: Optional[float] = None
        self.cont: Any = NOTHING
        self.last: Any = None         # the message being handled, for crash reports
        #: Seconds without a message after which the process hibernates (None: never).
        self.hibernate_after: Optional[float] = None
        self.hib = False              # the last result asked to hibernate
        #: While hibernating with a receive timeout pending: (message, TimerRef)
        #: of the timer standing in for it.
        self.tick: Any = None


class _Stopping(Exception):
    """The loop ends with ``reason``; ``after`` (a reply owed by a
    ``Stop(reason, reply=v)``) runs after ``terminate``, as OTP replies."""

    def __init__(self, reason: Any, after: Optional[Callable[[], None]] = None) -> None:
        self.reason = reason
        self.after = after


def stopping(reason: Any, after: Optional[Callable[[], None]] = None) -> _Stopping:
    """The exception a behaviour's ``dispatch`` raises to stop the loop
    with ``reason``, running ``after`` once ``terminate`` has returned."""
    return _Stopping(reason, after)


# ------------------------------------------------------------- starting
_initial_calls: "weakref.WeakKeyDictionary[type, dict]" = weakref.WeakKeyDictionary()


def _initial_call(kind: Behaviour, cls: type) -> str:
    """``kind.initial_call(cls)``, made once per class and behaviour: every
    process of the class shares the one string (a busy node starts two
    behaviour processes per websocket join)."""
    by_kind = _initial_calls.get(cls)
    if by_kind is None:
        by_kind = _initial_calls[cls] = {}
    call = by_kind.get(kind)
    if call is None:
        call = by_kind[kind] = kind.initial_call(cls)
    return call


def start_behaviour(kind: Behaviour, cls: type, args: tuple = (), kwargs: Optional[dict] = None,
                    *, name: Any = None, link: bool = True, timeout: Optional[float] = None,
                    trap_exit: bool = False, hibernate_after: Optional[float] = None) -> tuple:
    """Start a process of behaviour ``kind`` for user class ``cls`` and wait
    for its ``init`` (OTP's ``proc_lib:start_link`` + ``gen:start``).
    ``hibernate_after``: seconds without a message after which the process
    hibernates (None: never), as OTP's start option.

    Returns ``(pid, value)`` where ``value`` is what ``init`` returned, or
    ``(None, value)`` if ``init`` raised :class:`InitIgnored`.

    Raises:
        StartError: ``init`` stopped or raised (reason: its reason, or the
            exception), the name is taken (``("already_started", pid)``),
            or no answer came within ``timeout`` seconds (``"timeout"``:
            the process is killed, as OTP's start timeout does).
    """
    me = current_process()
    ack = make_ref()
    pid, ref = spawn_opt(_init_it, (kind, cls, args, kwargs or {}, me.pid, ack, name, link,
                                    hibernate_after),
                         link=link, monitor=True, trap_exit=trap_exit)
    set_initial_call(pid, _initial_call(kind, cls))
    msg = receive((_ACK, ack, ANY), ("DOWN", ref, ANY, ANY, ANY), timeout=timeout,
                  default=None)
    if msg is None:
        if link:
            unlink(pid)
        exit_signal(pid, "kill")
        receive(("DOWN", ref, ANY, ANY, ANY))
        if link:
            take_first(me, ("EXIT", pid, ANY))
        raise StartError("timeout")
    if msg[0] == "DOWN":
        if link:   # as proc_lib's: a trapping starter's EXIT is taken too
            take_first(me, ("EXIT", pid, ANY))
        raise StartError(msg.reason)
    demonitor(ref, flush=True)
    status, value = msg[2]
    if status == "ok":
        return pid, value
    if link:
        # The process unlinked itself before it ended: nothing to flush but
        # an EXIT a trapping starter might have got in the same instant.
        take_first(me, ("EXIT", pid, ANY))
    if status == "ignore":
        return None, value
    raise StartError(value)


def _init_it(kind: Behaviour, cls: type, args: tuple, kwargs: dict, starter: Pid, ack: Any,
             name: Any, linked: bool, hibernate_after: Optional[float]) -> None:
    me = current_process()

    def nack(status: str, value: Any) -> None:
        if linked:
            unlink(starter)
        send(starter, (_ACK, ack, (status, value)))

    if name is not None:
        try:
            register_name(name, me.pid)
        except Exception as e:
            try:
                holder = resolve_name(name)
            except Exception:
                holder = None
            nack("error", ("already_started", holder or e))
            return
    obj = cls.__new__(cls)
    loop = Loop(kind, obj, me, starter if linked else me.pid)
    loop.hibernate_after = hibernate_after
    set_state_object(obj)
    try:
        value = kind.init(loop, args, kwargs)
    except InitIgnored as e:
        nack("ignore", e.value)
        return
    except InitStopped as e:
        nack("error", e.reason)
        raise Exit(e.reason) from None
    except Exit:
        raise
    except Exception as e:
        nack("error", e)
        raise
    send(starter, (_ACK, ack, ("ok", value)))
    kind.run(loop)


def enter_loop(kind: Behaviour, obj: Any, *, parent: Optional[Pid] = None,
               timeout: Optional[float] = None, hibernate_after: Optional[float] = None) -> None:
    """Make the calling process a behaviour process serving ``obj`` (OTP's
    ``gen_server:enter_loop``), for a process started without
    :func:`start_behaviour`; returns when the loop ends normally, and
    raises ``Exit`` otherwise.  ``parent`` defaults to the process itself.
    With ``hibernate_after`` the process may hibernate: the stack that
    called ``enter_loop`` is then unwound and never returned to (put what
    must outlive it in :meth:`Behaviour.run`)."""
    me = current_process()
    set_initial_call(me.pid, _initial_call(kind, kind.callback_class(obj)))
    set_state_object(obj)
    loop = Loop(kind, obj, me, parent if parent is not None else me.pid)
    loop.timeout = timeout
    loop.hibernate_after = hibernate_after
    kind.run(loop)


# ------------------------------------------------------------- the loop
def serve(loop: Loop) -> None:
    """Run ``loop`` turn by turn (:func:`step`) until it ends, applying the
    terminate rules (see the module docstring).  Ends by raising ``Exit``
    with the reason (``"normal"`` included)."""
    me = loop.me
    try:
        while True:
            step(loop)
    except _Stopping as s:
        try:
            _terminate(loop, s.reason)
        finally:
            if s.after is not None:
                s.after()
        raise Exit(s.reason) from None
    except Exit as e:
        if exit_pending(me):
            # An exit signal from outside, not trapped: the process dies at
            # once, without terminate (as OTP).
            raise
        # The callback's own exit(reason), or a nested call or task await
        # that failed: a callback failure like any other, reported with
        # the failed call's own traceback (where the callback made it).
        _terminate(loop, e.reason, e)
        raise
    except Exception as e:
        if exit_pending(me):
            raise   # killed meanwhile: the signal's reason wins, no terminate
        _terminate(loop, e, e)
        # Reported above: end as an exit with the same reason, so the
        # runtime does not log the crash a second time.
        raise Exit(e) from None


def step(loop: Loop) -> None:
    """One turn of a behaviour process: run the pending continuation, or
    take one message (or its timeout) and handle it; then handle the
    callback's result.

    Between two turns the process holds nothing on its stack: the
    :class:`Loop` record is its whole continuation, so hibernation gives
    the greenlet back here and the next turn runs on a pooled one when a
    message arrives.
    """
    kind = loop.kind
    cont = loop.cont
    if cont is not NOTHING:
        loop.cont = NOTHING
        _result(loop, kind.resume(loop, cont))
        return
    if loop.hib:
        loop.hib = False
        _hibernate(loop, loop.timeout)
    if loop.timeout is None and loop.hibernate_after is None and loop.tick is None:
        msg = receive()     # _next's common case, without the call
    else:
        msg = _next(loop)
    if msg is NOTHING:
        loop.last = "timeout"
        _result(loop, kind.timeout(loop))
        return
    loop.last = msg
    cls = msg.__class__
    if cls is tuple and msg and msg[0] == _SYSTEM and len(msg) == 3:
        _system(loop, msg[1], msg[2])
        return
    if cls is ExitMsg and msg.pid == loop.parent and loop.me.trap:
        raise _Stopping(msg.reason)
    res = kind.dispatch(loop, msg)
    if res is None:
        loop.timeout = None   # _result's common case, without the call
    else:
        _result(loop, res)


def _next(loop: Loop) -> Any:
    """The next message, or NOTHING when ``loop.timeout`` passed without
    one; hibernates first if ``hibernate_after`` passes without one."""
    tick = loop.tick
    if tick is not None:   # woken from hibernation with a timeout pending
        loop.tick = None
        msg = receive()
        if msg is tick[0]:
            return NOTHING
        if not cancel_timer(tick[1]):
            take_first(loop.me, tick[0])   # it fired as this message came
        return msg
    timeout = loop.timeout
    after = loop.hibernate_after
    if timeout is None:
        if after is None:
            return receive()
        msg = receive(timeout=after, default=NOTHING)
        if msg is NOTHING:
            _hibernate(loop, None)
        return msg
    if after is not None and after < timeout:
        msg = receive(timeout=after, default=NOTHING)
        if msg is NOTHING:
            _hibernate(loop, timeout - after)
        return msg
    return receive(timeout=timeout, default=NOTHING)


def _hibernate(loop: Loop, timeout: Optional[float]) -> None:
    """Hibernate the process (never returns); a pending receive
    ``timeout`` is kept by a timer whose message :func:`_next` knows."""
    if timeout is not None:
        tick = (tags.HIBERNATE_TIMEOUT, make_ref())
        loop.tick = (tick, send_after(timeout, loop.me.pid, tick))
    hibernate(loop.kind.run, loop)


def _result(loop: Loop, res: Any) -> None:
    cls = res.__class__
    if cls is NoReply or cls is Reply:
        loop.timeout = res.timeout
        loop.cont = res.continue_
        loop.hib = res.hibernate
    elif cls is Stop:
        raise _Stopping(res.reason)
    else:
        loop.timeout = None


def _terminate(loop: Loop, reason: Any, cause: Any = None) -> None:
    """Run ``terminate`` and, for an abnormal ``reason``, log the one
    report of the process's end (Elixir's "GenServer ... terminating").

    ``cause`` is the exception that ended the callback: the crash itself,
    or the ``Exit`` of a failed nested call (whose message says which call
    failed and whose traceback is where the callback made it).
    """
    me = loop.me
    kind = loop.kind
    try:
        kind.terminate(loop, reason)
    except Exception as e:
        mark_reported(e)
        log.error("%s %s (%s) crashed in terminate: %r", kind.name, describe_process(me),
                  kind.callback_class(loop.obj).__qualname__, e, exc_info=e,
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
    log.error("%s %s (%s) terminating\n%s\nLast message: %r",
              kind.name, describe_process(me), kind.callback_class(loop.obj).__qualname__, why,
              loop.last,
              exc_info=(type(cause), cause, cause.__traceback__) if cause is not None
              else None,
              extra={"beamish_pid": repr(me.pid)})


# ------------------------------------------------------- system messages
def _system(loop: Loop, from_: Any, request: Any) -> None:
    """Answer one system message (OTP's ``sys`` requests)."""
    kind = loop.kind
    if request == "get_state":
        reply(from_, ("ok", kind.state(loop)))
    elif request == "get_status":
        me = loop.me
        cls = kind.callback_class(loop.obj)
        reply(from_, ("ok", SysStatus(me.pid, kind.name, f"{cls.__module__}:{cls.__qualname__}",
                                      "running", loop.parent, me.name, me.label,
                                      kind.state(loop))))
    elif request.__class__ is tuple and len(request) == 2 and request[0] == "replace_state":
        try:
            new = request[1](kind.state(loop))
            kind.replace_state(loop, new)
        except Exception as e:   # the state stays as it was (as OTP's sys)
            reply(from_, ("error", ("callback_failed", e)))
            return
        reply(from_, ("ok", new))
    elif request.__class__ is tuple and len(request) == 2 and request[0] == "terminate":
        raise _Stopping(request[1])
    else:
        reply(from_, ("error", ("unknown_system_message", request)))


# ---------------------------------------------------------- client side
def whereis_server(server: Any) -> Optional[Pid]:
    """The pid ``server`` names (a pid, a registered or ``via`` name), or None.
    ``(name, node)`` of another node stays as it is: ``send`` and
    ``monitor`` resolve it on that node (:mod:`beamish.dist`)."""
    if server.__class__ is Pid:
        return server
    if server.__class__ is tuple and len(server) == 2:
        return server if server[1] != node() else resolve_name(server[0])
    return resolve_name(server)


def gen_call(server: Any, tag: str, request: Any, timeout: Optional[float],
             op: str = "call") -> Any:
    """Send ``(tag, from_, request)`` to ``server`` and wait for the reply
    (OTP's ``gen:call``): the protocol under ``call`` and the system
    requests.  ``op`` names the operation in a :class:`CallExit`.

    Raises:
        CallExit: the server is not alive (``"noproc"``), is the caller
            (``"calling_self"``) or ended before replying (its reason).
        CallTimeout: no reply within ``timeout``; a late reply is dropped,
            never delivered to the caller's mailbox.
    """
    pid = server if server.__class__ is Pid else whereis_server(server)
    if pid is None:
        raise CallExit("noproc", server, request, op)
    me = current_process()
    mine = me.pid
    if pid is mine or pid.__class__ is Pid and pid.id == mine.id and pid == mine:
        raise CallExit("calling_self", server, request, op)
    msg = call_process(me, pid, tag, request, timeout)
    if msg.__class__ is tuple:
        return msg[1]
    if msg is None:
        raise CallTimeout("timeout", server, request, op)
    raise CallExit(msg.reason, server, request, op)


def reply(from_: tuple, value: Any) -> None:
    """Answer a call (``from_`` as the server got it)."""
    ref = from_[1]
    send(ref, (ref, value))


def _sys_request(server: Any, request: Any, timeout: Optional[float], op: str) -> Any:
    status, value = gen_call(server, _SYSTEM, request, timeout, op)
    if status != "ok":
        raise CallExit(value, server, request, op)
    return value


def get_state(server: Any, timeout: Optional[float] = 5.0) -> Any:
    """The state of behaviour process ``server`` (OTP's ``sys:get_state``):
    a GenServer's instance, a channel's, a socket's state record.  For
    debugging: the object is the live one, so do not change it.

    Raises:
        CallExit, CallTimeout: as :func:`~beamish.otp.call`.
    """
    return _sys_request(server, "get_state", timeout, "get_state")


def get_status(server: Any, timeout: Optional[float] = 5.0) -> SysStatus:
    """``server``'s :class:`SysStatus` (OTP's ``sys:get_status``)."""
    return _sys_request(server, "get_status", timeout, "get_status")


def replace_state(server: Any, fn: Callable[[Any], Any], timeout: Optional[float] = 5.0) -> Any:
    """Replace ``server``'s state with ``fn(state)``, run in the server
    between two messages (OTP's ``sys:replace_state``); returns the new
    state.  For debugging and hot fixes.

    Raises:
        CallExit: ``fn`` raised (reason ``("callback_failed", exception)``:
            the state is left as it was), or as :func:`~beamish.otp.call`.
    """
    return _sys_request(server, ("replace_state", fn), timeout, "replace_state")


def stop(server: Any, reason: Any = "normal", timeout: Optional[float] = None) -> None:
    """Stop behaviour process ``server`` with ``reason``, after its
    ``terminate``; waits for it (OTP's ``proc_lib:stop``, a system message).

    Raises:
        CallExit: the server was not alive (``"noproc"``), ended with
            another reason, or is the caller itself (``"calling_self"``:
            it would wait for its own end for ever, so OTP refuses).
        CallTimeout: it did not end within ``timeout`` seconds.
    """
    request = ("stop", reason)
    pid = whereis_server(server)
    if pid is None:
        raise CallExit("noproc", server, request, "stop")
    me = current_process()
    if pid == me.pid:
        raise CallExit("calling_self", server, request, "stop")
    ref = monitor(pid)
    send(pid, (_SYSTEM, None, ("terminate", reason)))
    msg = receive(("DOWN", ref, ANY, ANY, ANY), timeout=timeout, default=None)
    if msg is None:
        demonitor(ref, flush=True)
        raise CallTimeout("timeout", server, request, "stop")
    if msg.reason == "noproc":
        raise CallExit("noproc", server, request, "stop")
    if msg.reason is not reason and msg.reason != reason:
        raise CallExit(msg.reason, server, request, "stop")
