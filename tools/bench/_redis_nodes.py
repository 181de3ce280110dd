"""The two node OS processes of the pubsub suite's cross-node latency.

``python -m tools.bench._redis_nodes ROLE MODE URL CHANNEL MSGS WARMUP``

ROLE is ``recv`` or ``send``.  The receiver subscribes, prints ``READY``
and answers every ping with an ack; the sender waits until both nodes are
subscribed, then sends ``WARMUP + MSGS`` pings, one at a time: each carries
the time it was sent and the next one leaves when its ack is back, so
exactly one message is in flight and no queueing is measured.  The
receiver takes the one-way latency (receive time - send time) on
``CLOCK_MONOTONIC``, which is system-wide on Linux, so the two processes'
clocks agree; the sender takes the round trip.  Each prints one ``RESULT
{json}`` line (values in seconds, warm-up excluded) and leaves.

MODE:

* ``beamish``: a PubSub with the :class:`~beamish.pubsub.RedisAdapter`
  (same ``channel=``, distinct node names) in each node; a beamish process
  subscribed to the ``lat`` topic receives pings and ``broadcast``s acks on
  ``ack``, to which the sender's process is subscribed.
* ``redis_gevent``: the floor: redis-py PUBLISH and a SUBSCRIBE connection
  read with ``listen()``, in a gevent-patched process (beamish's I/O stack
  without beamish).
* ``redis``: the same without gevent (blocking sockets).

Every process but ``redis`` patches with gevent first thing, as ``beamish
run`` does.
"""
if __name__ == "__main__":
    import sys as _sys
    if len(_sys.argv) > 2 and _sys.argv[2] != "redis":
        from gevent import monkey
        monkey.patch_all()

import json
import os
import sys
import time

clock = time.monotonic
PS = "bench"
NODE_TIMEOUT = 60.0      # a node that sees nothing for this long gives up


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wait_subscribed(client, channels: list, want: int) -> None:
    deadline = clock() + 20
    while clock() < deadline:
        counts = dict(client.pubsub_numsub(*channels))
        if all(counts.get(c.encode(), 0) >= want for c in channels):
            return
        time.sleep(0.01)
    raise RuntimeError(f"nodes not subscribed to {channels} after 20 s")


# ----------------------------------------------------------------- beamish
def _beamish(role: str, url: str, channel: str, msgs: int, warmup: int) -> dict:
    import redis
    from beamish import ANY, receive, send, spawn_link
    from beamish import self as self_pid
    from beamish.pubsub import PubSub, RedisAdapter, broadcast, subscribe

    adapter = RedisAdapter(url, node_name=f"{role}@bench", channel=channel)
    PubSub.start_link(PS, adapter=adapter)
    driver = self_pid()
    if role == "recv":
        def receiver():
            subscribe(PS, "lat")
            send(driver, "subscribed")
            lat = []
            while True:
                msg = receive(timeout=NODE_TIMEOUT)
                t = clock()
                seq = msg[1]
                if seq < 0:
                    send(driver, ("done", lat))
                    return
                if seq >= warmup:
                    lat.append(t - msg[2])
                broadcast(PS, "ack", ("ack", seq))
        spawn_link(receiver)
        receive("subscribed", timeout=NODE_TIMEOUT)
        _wait_subscribed(redis.Redis.from_url(url), [channel], 1)
        _out("READY")
        return {"oneway": receive(("done", ANY), timeout=10 * NODE_TIMEOUT)[1]}
    subscribe(PS, "ack")
    _wait_subscribed(redis.Redis.from_url(url), [channel], 2)
    rtt = []
    for seq in range(warmup + msgs):
        t0 = clock()
        broadcast(PS, "lat", ("ping", seq, t0))
        receive(("ack", seq), timeout=10)
        if seq >= warmup:
            rtt.append(clock() - t0)
    broadcast(PS, "lat", ("ping", -1, clock()))
    return {"rtt": rtt}


# ------------------------------------------------------------- raw redis-py
def _raw(role: str, url: str, channel: str, msgs: int, warmup: int) -> dict:
    import redis
    client = redis.Redis.from_url(url)
    ps = client.pubsub(ignore_subscribe_messages=True)
    ping, ack = channel + ":ping", channel + ":ack"
    if role == "recv":
        ps.subscribe(ping)
        _wait_subscribed(client, [ping], 1)
        _out("READY")
        lat = []
        for m in ps.listen():
            t = clock()
            seq_b, ts_b = m["data"].split(b" ")
            seq = int(seq_b)
            if seq < 0:
                return {"oneway": lat}
            if seq >= warmup:
                lat.append(t - float(ts_b))
            client.publish(ack, seq_b)
        raise RuntimeError("subscription ended")
    ps.subscribe(ack)
    _wait_subscribed(client, [ping, ack], 1)
    rtt = []
    for seq in range(warmup + msgs):
        t0 = clock()
        client.publish(ping, b"%d %r" % (seq, t0))
        while True:
            m = ps.get_message(timeout=10)   # None: a timeout, or a subscribe confirmation
            if m is not None and m["type"] == "message" and int(m["data"]) == seq:
                break
            if clock() - t0 > 10:
                raise RuntimeError(f"no ack for ping {seq} within 10 s")
        if seq >= warmup:
            rtt.append(clock() - t0)
    client.publish(ping, b"-1 0")
    return {"rtt": rtt}


def main(argv: list) -> None:
    role, mode, url, channel, msgs, warmup = argv
    fn = _beamish if mode == "beamish" else _raw
    res = fn(role, url, channel, int(msgs), int(warmup))
    _out("RESULT " + json.dumps(res))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
