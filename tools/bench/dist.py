"""The dist suite: processes on two nodes over a real redis-server.

Run it with ``python -m tools.bench dist [--quick]``; one measurement with
``python -m tools.bench.dist --one dist SYSTEM [--quick]``.

Two node OS processes (see :mod:`tools.bench._dist_nodes`), one message in
flight at a time, so no queueing is measured:

* **send**: remote ``send`` to ``(name, node)``: one-way p50 (the value),
  p99, the round trip, and remote send throughput (10x the messages, as
  fast as one process sends them);
* **call**: remote ``call`` to a GenServer by ``(name, node)``: round trip;
* **local**: a local ``send`` one-way in the same driver, for scale;
* **redis_gevent**: the floor: raw redis-py PUBLISH/SUBSCRIBE between two
  gevent processes (one-way p50, round trip beside it), from the pubsub
  suite's harness.
"""
from __future__ import annotations

import json
import sys

from tools.harness import HarnessError, LineProc, RedisServer, percentiles

from ._report import LOWER, Bench, Sample, Suite, System, register
from ._runner import child_main
from .pubsub import _cross_node


def _pair(msgs: int) -> dict:
    server = RedisServer().start()
    cmd = [sys.executable, "-m", "tools.bench._dist_nodes"]
    procs = []
    try:
        procs.append(LineProc(cmd + ["recv", server.url, str(msgs)], "dist-recv"))
        procs[0].expect("READY", 60)
        procs.append(LineProc(cmd + ["drive", server.url, str(msgs)], "dist-drive"))
        result = json.loads(procs[1].expect("RESULT ", 300)[7:])
    finally:
        for p in procs:
            p.stop()
        server.close()
    if len(result["oneway"]) != msgs:
        raise HarnessError(f"{len(result['oneway'])} of {msgs} pings arrived")
    return result


def _us(values: list) -> dict:
    return percentiles(x * 1e6 for x in values)


def dist_send(msgs: int) -> Sample:
    r = _pair(msgs)
    ow, rt = _us(r["oneway"]), _us(r["rtt"])
    return Sample(ow["p50"], {"p99": (ow["p99"], "us"), "round trip p50": (rt["p50"], "us"),
                              "throughput": (r["rate"], "msgs/s")}, waits=True)


def dist_call(msgs: int) -> Sample:
    c = _us(_pair(msgs)["call"])
    return Sample(c["p50"], {"p99": (c["p99"], "us")}, waits=True)


def local_send(msgs: int) -> Sample:
    lo = _us(_pair(msgs)["local"])
    return Sample(lo["p50"], {"p99": (lo["p99"], "us")}, waits=True)


def redis_gevent(msgs: int) -> Sample:
    return _cross_node(msgs, "redis_gevent")


SUITE = register(Suite(
    name="dist",
    title="distribution: remote send, remote call, over Redis, beside local send and raw redis-py",
    module="tools.bench.dist",
    systems={
        "send": System("beamish remote send, one-way", floor=False),
        "call": System("beamish remote call, round trip", floor=False),
        "local": System("beamish local send, one-way"),
        "redis_gevent": System("redis-py pub/sub, gevent, one-way"),
    },
    benches=(
        Bench("dist", "remote send and call across two nodes", "us p50", LOWER,
              {"send": dist_send, "call": dist_call, "local": local_send,
               "redis_gevent": redis_gevent},
              ref="redis_gevent", params={"msgs": 2000}, quick_params={"msgs": 300}),
    ),
))

if __name__ == "__main__":
    child_main(SUITE)
