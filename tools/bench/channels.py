"""The channels suite: memory per joined socket, broadcast to the last
client, and the encode cost fastlane saves (the benchmark of channels' acceptance
targets).

1./3. **memory per joined socket** at ``sockets`` (1k; 10k, or 2k with
   ``--quick``), one child process per run building one session: the
   server in its own OS process (:mod:`tools.bench._chan_server`:
   ``beamish run``, an :class:`~beamish.channels.Endpoint` whose socket
   accepts everyone and routes ``room:*`` to a channel that joins ok),
   clients in other processes (:mod:`tools.bench._chan_clients`, at most
   ``per_process`` sockets each, each process from its own 127.0.3.x
   address: a process holds at most 20,000 files and one source address
   reaches ~28k ports).  10 sockets join first (warm-up), then the
   server's RSS (after a full collection) is the baseline; ``sockets``
   more join ``room:lobby`` and, 2 s later, RSS again.  Value: the RSS
   delta over ``sockets``.  Target: under 20 KB.  Beside it, the same
   delta read again after the broadcasts below (the memory a client
   holds while broadcasts flow).
2./4. **broadcast to the last client** (same session): one client pushes
   ``shout``; its channel broadcasts to the topic (fastlane); every client
   notes when its copy arrives (``CLOCK_MONOTONIC``, system-wide).  Value:
   median over ``tries`` broadcasts of (last arrival - the push), with
   the median client beside it.  Target at 10k: under 100 ms.
   Beside them, what opening the sockets cost: joins a second, join
   latency (p50/p99, as the clients read it) and the server's CPU time
   (user + system, from the OS) over the opening divided by ``sockets``,
   so the join path's own cost is read apart from the clients'.
   The clients share the machine's CPUs with the server, so their reading
   is in the number; the floor shows how much.
5./6. **encode cost per broadcast** (in-process, JSON and msgpack): with
   fastlane, one ``serializer.fastlane`` plus framing per broadcast,
   whatever the number of subscribers; without, one ``encode_push`` plus
   framing per subscriber (what a channel pushing to its own client
   costs), for ``subscribers`` subscribers.

Floor for 1-4: :mod:`tools.bench._chan_floor`, the same protocol on a bare
gevent ``StreamServer`` (one greenlet per connection, hand-parsed frames,
the broadcast ``sendall``-ed in one loop), with the same clients.
"""
from __future__ import annotations

import math
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial

import psutil

from beamish.channels import Broadcast, Message, MsgpackSerializer, V2JSONSerializer
from beamish.channels._transport import encode_frame

from tools.harness import HarnessError, LineProc, Node, ProcError

from ._report import LOWER, Bench, Sample, System, suite
from ._runner import child_main

TARGETS = {"memory": 20_000.0, "broadcast_10k": 100.0}
WARMUP = 10
TOPIC = "room:lobby"


# ---------------------------------------------------------------- sessions
def _start_server(kind: str, log_dir: str) -> tuple:
    if kind in _HIBERNATE_AFTER:
        srv = Node("tools.bench._chan_server", "--no-control", "--hibernate-after",
                   _HIBERNATE_AFTER[kind], name="chanbench@127.0.0.1", log_dir=log_dir)
    else:
        srv = LineProc([sys.executable, "-m", "tools.bench._chan_floor"], "chan-floor", log_dir)
    try:
        port = int(srv.expect("listening ", 60).split()[1])
    except Exception:
        srv.stop()
        raise
    return srv, port


def _ask_all(procs: list, line: str, prefix: str, timeout: float) -> list:
    for p in procs:
        p.send(line)
    return [p.expect(prefix, timeout)[len(prefix):].split() for p in procs]


def _broadcast(workers: list, k: int, timeout: float) -> tuple:
    """One broadcast: (seconds from the push to each arrival, sorted)."""
    _ask_all(workers, f"arm {k}", "armed ", 30)
    t0 = float(workers[0].ask(f"shout {k}", f"sent {k} ", 30)[0])
    times, deadline = [], time.monotonic() + timeout
    prefix = f"got {k} "
    for w in workers:
        try:
            words = w.expect(prefix, max(0.1, deadline - time.monotonic()))[len(prefix):].split()
        except ProcError:       # not every copy arrived: what did?
            words = w.ask(f"report {k}", prefix, 30)
        times += [float(t) - t0 for t in words[1:]]
    return sorted(times)


def _cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time the process has used so far."""
    times = proc.cpu_times()
    return times.user + times.system


def _session(kind: str, sockets: int, tries: int, per_process: int) -> Sample:
    log_dir = tempfile.mkdtemp(prefix=f"bench-channels-{kind}-")
    beamish = kind in _HIBERNATE_AFTER
    srv, workers = None, []
    try:
        srv, port = _start_server(kind, log_dir)
        nproc = max(1, math.ceil(sockets / per_process))
        for i in range(nproc):
            workers.append(LineProc([sys.executable, "-m", "tools.bench._chan_clients",
                                     str(port), f"127.0.3.{i + 1}"], f"chan-clients{i}", log_dir))
        for w in workers:
            w.expect("ready", 30)
        total, errors, *_ = workers[0].ask(f"open {WARMUP} {TOPIC}", "opened ", 60)
        if int(errors):
            raise HarnessError(f"warm-up: {errors} sockets failed to join")
        base = int(srv.ask("rss", "rss ", 60)[0])
        shares = [sockets // nproc + (1 if i < sockets % nproc else 0) for i in range(nproc)]
        server = psutil.Process(srv.pid)
        cpu0 = _cpu_seconds(server)
        t0 = time.monotonic()
        for w, n in zip(workers, shares):
            w.send(f"open {n} {TOPIC}")
        opened = [w.expect("opened ", 600)[7:].split() for w in workers]
        t_open = time.monotonic() - t0
        join_cpu = (_cpu_seconds(server) - cpu0) / sockets
        errors = sum(int(o[1]) for o in opened)
        held = sum(int(o[0]) for o in opened) - WARMUP
        if errors or held != sockets:
            raise HarnessError(f"{errors} of {sockets} sockets failed to join")
        time.sleep(2.0)
        rss = int(srv.ask("rss", "rss ", 60)[0])
        joined = int(srv.ask("stats", "stats ", 30)[0])
        if joined != sockets + WARMUP:
            raise HarnessError(f"the server holds {joined} joined sockets, not {sockets + WARMUP}")
        # every socket speaks once, so no idle timeout fires during long sessions
        _ask_all(workers, "hb", "hb ", 60)
        time.sleep(1.0)
        lasts, p50s, firsts, missing = [], [], [], 0
        if beamish:
            srv.ask("gc", "gc ", 30)   # from here: the collections during the broadcasts
        for k in range(tries):
            times = _broadcast(workers, k, 60.0)
            missing += sockets + WARMUP - len(times)
            if times:
                lasts.append(times[-1])
                p50s.append(times[len(times) // 2])
                firsts.append(times[0])
            time.sleep(0.5)
        if missing:
            raise HarnessError(f"{missing} broadcast copies never arrived over {tries} tries")
        rss_after = int(srv.ask("rss", "rss ", 60)[0])
        ms = 1e3
        extra = {}
        if beamish:
            gc_ms, *runs = srv.ask("gc", "gc ", 30)
            extra["gc per broadcast"] = (float(gc_ms) / tries, "ms")
            extra["full collections per broadcast"] = (int(runs[2]) / tries, "runs")
        return Sample((rss - base) / sockets, {**extra,
            "server RSS": (rss / (1 << 20), "MiB"),
            "memory per socket after the broadcasts": ((rss_after - base) / sockets, "bytes"),
            "joins/s while opening": (sockets / t_open, "joins/s"),
            "server CPU per join": (join_cpu * 1e6, "us"),
            # the worst client process's, each read in batches of 200 (see _chan_clients)
            "join p50 while opening": (max(float(o[3]) for o in opened) * ms, "ms"),
            "join p99 while opening": (max(float(o[4]) for o in opened) * ms, "ms"),
            "broadcast": (statistics.median(lasts) * ms, "ms"),
            "broadcast: median client": (statistics.median(p50s) * ms, "ms"),
            "broadcast: first client": (statistics.median(firsts) * ms, "ms"),
            "broadcast: slowest of the tries": (max(lasts) * ms, "ms"),
        }, waits=True)
    finally:
        for w in workers:
            w.stop()
        if srv is not None:
            srv.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


# ---------------------------------------------------------------- encoding
_PAYLOAD = {"body": "hello everyone, this is a chat message of an ordinary length",
            "user": "alice", "at": 1_700_000_000}
_SERIALIZERS = {"json": V2JSONSerializer, "msgpack": MsgpackSerializer}


def _fastlane(serializer: str, subscribers: int, reps: int) -> Sample:
    ser = _SERIALIZERS[serializer]()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        encode_frame(ser.fastlane(Broadcast(TOPIC, "new_msg", _PAYLOAD)))
        times.append(time.perf_counter() - t0)
    return Sample(statistics.median(times) * 1e6)


def _per_subscriber(serializer: str, subscribers: int, reps: int) -> Sample:
    ser = _SERIALIZERS[serializer]()
    times = []
    for _ in range(max(3, reps // 200)):
        t0 = time.perf_counter()
        for _ in range(subscribers):
            encode_frame(ser.encode_push(Message(None, None, TOPIC, "new_msg", _PAYLOAD)))
        times.append(time.perf_counter() - t0)
    per = statistics.median(times)
    return Sample(per * 1e6, {"one encode": (per * 1e6 / subscribers, "us")})


# ------------------------------------------------------------------ suite
#: The beamish servers measured and their ``hibernate_after``: sockets and
#: channels that stay awake, and ones that hibernate half a second after
#: their last message (the default is 15 s, as Phoenix's: idle clients of
#: a running server hibernate the same way, later).
_HIBERNATE_AFTER = {"beamish": "none", "beamish_hib": "0.5"}

SYSTEMS = {"beamish": System("beamish", floor=False),
           "beamish_hib": System("beamish, hibernating", floor=False),
           "gevent": System("bare gevent server"),
           "fastlane": System("beamish, fastlane", floor=False),
           "per_sub": System("encode per subscriber")}

_SMALL = {"sockets": 1_000, "tries": 5, "per_process": 2_500}
_SMALL_QUICK = {"sockets": 1_000, "tries": 3, "per_process": 2_500}
_LARGE = {"sockets": 10_000, "tries": 5, "per_process": 2_500}
_LARGE_QUICK = {"sockets": 2_000, "tries": 3, "per_process": 2_500}
_SESSION = {k: partial(_session, k) for k in ("beamish", "beamish_hib", "gevent")}
_ENC = {"subscribers": 10_000, "reps": 2_000}
_ENC_QUICK = {"subscribers": 1_000, "reps": 1_000}


def _encode(ser: str) -> dict:
    return {"fastlane": partial(_fastlane, ser), "per_sub": partial(_per_subscriber, ser)}


SUITE = suite(
    "channels", "Endpoint sockets: memory, broadcast to the last client, fastlane encoding",
    SYSTEMS,
    Bench("mem_small", "1. server memory per joined socket", "bytes/socket", LOWER,
          _SESSION, ref="gevent", params=_SMALL, quick_params=_SMALL_QUICK,
          target=TARGETS["memory"]),
    Bench("bcast_small", "2. broadcast, until the last client has it", "ms", LOWER,
          from_extra=("mem_small", "broadcast")),
    Bench("mem_large", "3. server memory per joined socket", "bytes/socket", LOWER,
          _SESSION, ref="gevent", params=_LARGE, quick_params=_LARGE_QUICK,
          target=TARGETS["memory"]),
    Bench("bcast_large", "4. broadcast, until the last client has it", "ms", LOWER,
          target=TARGETS["broadcast_10k"], from_extra=("mem_large", "broadcast")),
    Bench("encode_json", "5. encode cost per broadcast, V2 JSON", "us/broadcast", LOWER,
          _encode("json"), ref="per_sub", params=_ENC, quick_params=_ENC_QUICK),
    Bench("encode_msgpack", "6. encode cost per broadcast, msgpack", "us/broadcast", LOWER,
          _encode("msgpack"), ref="per_sub", params=_ENC, quick_params=_ENC_QUICK),
)

if __name__ == "__main__":
    child_main(SUITE)
