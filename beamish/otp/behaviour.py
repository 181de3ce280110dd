"""The process-behaviour base, for packages that build processes of a new
kind (beamish's channels and sockets are built on it, as GenServer is).

A behaviour is a :class:`Behaviour` subclass saying how a message becomes
a callback of the user's object; the base starts its processes
(:func:`start_behaviour`, or :func:`enter_loop` for a process already
running), runs their loop, answers system messages, applies the terminate
rules and writes the one crash report.  See :mod:`beamish.otp._behaviour`
for the rules; applications use GenServer and never need this module.
"""
from ._behaviour import (NOTHING, Behaviour, InitIgnored, InitStopped, Loop, NoReply, Reply, Stop,
                         enter_loop, gen_call, serve, start_behaviour, stopping)

__all__ = [
    "Behaviour", "InitIgnored", "InitStopped", "Loop", "NOTHING", "NoReply", "Reply", "Stop",
    "enter_loop", "gen_call", "serve", "start_behaviour", "stopping",
]
