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
``Reply(v, ...)``    reply ``v``; options ``timeout=``, ``continue_=`` and
                     ``hibernate=``
``NoReply(...)``     no reply now (``handle_call`` replies later with
                     ``reply(from_, v)``); options ``timeout=``, ``continue_=``,
                     ``hibernate=``
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

A GenServer is a behaviour process (:mod:`beamish.otp.behaviour`): the
base starts it, runs its loop, answers ``get_state``/``get_status``/
``replace_state`` and ``stop`` (system messages) and writes the one report
of a crash; this module only turns calls, casts and other messages into
the callbacks below.

A request the class does not handle crashes the server, as an unmatched
clause does in Elixir: the base ``handle_call``, ``handle_cast`` and
``handle_continue`` raise :class:`UnknownRequest`, the caller gets
``CallExit`` and the supervisor restarts the server.  (An unexpected
*message* is only logged, as Elixir's default ``handle_info`` does.)

``timeout=t`` (seconds) delivers ``handle_info("timeout")`` if no message
arrives within ``t``; ``continue_=arg`` runs ``handle_continue(arg)``
before the next message is taken.  ``hibernate=True`` hibernates the
server until its next message (it gives its greenlet back and keeps only
its records: OTP's ``hibernate``); so does the class attribute
``hibernate_after = t``, after ``t`` seconds without a message (OTP's
``{hibernate_after, T}`` start option; ``start_server`` takes it too).

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
from functools import partial
from typing import Any, Optional

from ..core import Pid, send
from ..lowlevel import current_process, tags
from ._behaviour import (IGNORE, NOTHING, Behaviour, InitIgnored, InitStopped, Loop, NoReply,
                         Reply, Stop, gen_call, reply, start_behaviour, stop, stopping, whereis_server)
from ._child_spec import ChildSpec
from ._errors import BadGenServer, UnknownRequest

log = logging.getLogger(__name__)

__all__ = ["GenServer", "Reply", "NoReply", "Stop", "IGNORE", "call", "cast", "reply", "stop",
           "start", "start_link", "start_server"]

_CALL = tags.CALL
_CAST = tags.CAST

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
    #: Seconds without a message after which the server hibernates (None: never).
    hibernate_after: Optional[float] = None

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
                 link: bool = True, timeout: Optional[float] = None,
                 hibernate_after: Any = NOTHING) -> Optional[Pid]:
    """Start a server of ``cls`` running ``init(*args, **kwargs)``, as
    ``gen_server:start_link(Module, Args)``: what ``cls.start_link`` does
    by default, for a class whose own ``start_link``/``start`` takes other
    arguments.  ``link=False`` starts it unlinked (``start``); ``timeout``
    (seconds) bounds the wait for ``init``, after which the server is
    killed (as OTP's ``{timeout, T}`` start option).  ``hibernate_after``
    (seconds, or None for never) overrides the class's.

    Returns its pid, or None if ``init`` returned ``IGNORE``.

    Raises:
        StartError: ``init`` returned ``Stop``, raised, the name is taken,
            or ``init`` did not return within ``timeout`` (``"timeout"``).
    """
    if hibernate_after is NOTHING:
        hibernate_after = cls.hibernate_after
    return start_behaviour(_GEN_SERVER, cls, args, kwargs, name=name, link=link,
                           timeout=timeout, hibernate_after=hibernate_after)[0]


def start_link(cls: type, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
    """``cls.start_link(*args, name=name, **kwargs)``."""
    return cls.start_link(*args, name=name, **kwargs)


def start(cls: type, *args: Any, name: Any = None, **kwargs: Any) -> Optional[Pid]:
    """``cls.start(*args, name=name, **kwargs)``."""
    return cls.start(*args, name=name, **kwargs)


# ------------------------------------------------------------ behaviour
class _GenServerBehaviour(Behaviour):
    """The GenServer behaviour: calls, casts, other messages, timeouts and
    continuations become ``handle_*`` callbacks of the user's instance."""

    name = "GenServer"
    entry = "init"

    def init(self, loop: Loop, args: tuple, kwargs: dict) -> Pid:
        server = loop.obj
        server._GenServer__pid = pid = loop.me.pid
        res = server.init(*args, **kwargs)
        if res.__class__ is tuple and 2 <= len(res) <= 3 and res[0] in _ELIXIR_INIT \
                or res.__class__ is str and res == "ignore":
            raise BadGenServer(
                f"{type(server).__qualname__}.init returned {res!r}, an Elixir-style result: "
                f"keep state on self and return nothing (or NoReply(...), Stop(reason), "
                f"IGNORE)")
        if res is IGNORE:
            raise InitIgnored(None)
        if isinstance(res, Stop):
            raise InitStopped(res.reason)
        if isinstance(res, NoReply):
            loop.timeout, loop.cont, loop.hib = res.timeout, res.continue_, res.hibernate
        return pid

    def dispatch(self, loop: Loop, msg: Any) -> Any:
        server = loop.obj
        if msg.__class__ is tuple and msg:
            tag = msg[0]
            if tag == _CALL:
                from_ = msg[1]
                res = server.handle_call(msg[2], from_)
                cls = res.__class__
                if cls is Reply:
                    reply(from_, res.value)
                    return res
                if cls is NoReply:
                    return res
                if cls is Stop:
                    if res.has_reply:
                        # OTP replies to {stop, Reason, Reply, State} after
                        # terminate, whether or not terminate succeeds.
                        raise stopping(res.reason, partial(reply, from_, res.reply))
                    return res
                ref = from_[1]      # reply(from_, res), inline: the hot path
                send(ref, (ref, res))
                return None
            if tag == _CAST:
                return _not_reply(server.handle_cast(msg[1]))
        return _not_reply(server.handle_info(msg))

    def timeout(self, loop: Loop) -> Any:
        return _not_reply(loop.obj.handle_info("timeout"))

    def resume(self, loop: Loop, cont: Any) -> Any:
        return _not_reply(loop.obj.handle_continue(cont))

    def replace_state(self, loop: Loop, new: Any) -> None:
        cls = type(loop.obj)
        if not isinstance(new, cls):
            raise TypeError(f"a GenServer's state is its instance: replace_state's function "
                            f"must return a {cls.__qualname__}, not {new!r}")
        new._GenServer__pid = loop.me.pid
        super().replace_state(loop, new)


def _not_reply(res: Any) -> Any:
    if res.__class__ is Reply:
        raise TypeError("Reply is only a handle_call result")
    return res


_GEN_SERVER = _GenServerBehaviour()


# -------------------------------------------------------------- client API
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
    return gen_call(server, _CALL, request, timeout)


def cast(server: Any, msg: Any) -> None:
    """Send ``msg`` to ``server`` without waiting; never fails (as OTP)."""
    try:
        pid = whereis_server(server)
        if pid is not None:
            send(pid, (_CAST, msg))
    except Exception as e:  # a cast never fails, whatever the name's registry does
        log.debug("cast to %r dropped: %r", server, e)
