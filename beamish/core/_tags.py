"""Every internal message tag, in one place.

beamish's own processes talk to each other with tuples whose first element
is a ``"$..."`` string: a user's messages never start with one by accident
(Erlang uses reserved atoms such as ``'$gen_call'`` the same way).  Each
tag is named here once, grouped by the layer whose processes exchange it,
so a reader finds what a tag means and who sends it; the modules of every
layer import them from :mod:`beamish.lowlevel` (``lowlevel.tags``).

Tags are plain strings, so messages carrying them survive the term codec
between nodes; compare them with ``==``.
"""
from __future__ import annotations

__all__ = [
    "CALL", "CAST", "SYSTEM", "START_ACK", "TASK_REPLY_TO", "HIBERNATE_TIMEOUT",
    "FRAME", "CLOSED", "IN", "LEAVE", "PUSH", "REPLY",
    "TICK", "FLUSH_DIFFS", "ACCEPTED", "SIGNAL", "WORKER_EXIT", "START_NEXT",
]

# ---- otp: the behaviour base (beamish.otp) -----------------------------
#: ``(CALL, from_, request)``: a ``call`` to a GenServer; answered with
#: ``reply(from_, value)``.
CALL = "$gen_call"
#: ``(CAST, msg)``: a ``cast`` to a GenServer.
CAST = "$gen_cast"
#: ``(SYSTEM, from_, request)``: a system message (``get_state``,
#: ``get_status``, ``replace_state``, ``stop``) every behaviour process
#: answers itself, before its callbacks see anything (OTP's ``sys``).
SYSTEM = "$system"
#: ``(START_ACK, ref, (status, value))``: a starting behaviour process
#: tells its starter how ``init`` went (OTP's ``proc_lib:init_ack``).
START_ACK = "$gen_ack"
#: ``(TASK_REPLY_TO, ref)``: a Task learns where its result goes.
TASK_REPLY_TO = "$task_reply_to"
#: ``(HIBERNATE_TIMEOUT, ref)``: a hibernating behaviour process's
#: receive timeout, kept by a timer aimed at itself.
HIBERNATE_TIMEOUT = "$hibernate_timeout"

# ---- channels: connection reader, socket and channel processes ----------
#: ``(FRAME, data)``: the connection's reader hands a frame's data to its
#: socket process.
FRAME = "$frame"
#: ``(CLOSED, code)``: the connection's reader saw the connection end.
CLOSED = "$closed"
#: ``(IN, event, payload, ref)``: the socket hands a client's event to the
#: channel process of its topic.
IN = "$in"
#: ``(LEAVE, ref)``: the client left the channel's topic.
LEAVE = "$leave"
#: ``(PUSH, join_ref, topic, event, payload)``: a channel pushes an event
#: to its client through the socket process.
PUSH = "$push"
#: ``(REPLY, join_ref, ref, topic, status, response)``: a channel replies
#: to a client's event through the socket process.
REPLY = "$reply"

# ---- presence: tracker shards (sent to themselves) ----------------------
#: A tracker shard's periodic heartbeat tick.
TICK = "$tick"
#: A tracker shard's diff window ended: hand the buffered diffs over.
FLUSH_DIFFS = "$flush_diffs"

# ---- pubsub and boot ----------------------------------------------------
#: ``(ACCEPTED, conn)``: a host relay's acceptor hands over a connection.
ACCEPTED = "$accepted"
#: ``(SIGNAL, signum)``: an OS signal, delivered to the node's boot process.
SIGNAL = "$signal"
#: ``(WORKER_EXIT, index, popen)``: a worker OS process of ``--workers`` ended.
WORKER_EXIT = "$worker_exit"
#: The worker pool's cue to start its next worker.
START_NEXT = "$start_next"
