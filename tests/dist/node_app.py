"""A distributed node for the real-cluster tests, driven by lines on stdin.

Cluster over Redis (``--redis URL``) or, without it, the host relay named
by ``$BEAMISH_HOST_CLUSTER``.  Every command prints one answer line:

  nodes                       ``nodes a,b``
  serve NAME                  an Echo server registered locally as NAME
  call NODE NAME REQ TMO      call((NAME, NODE), REQ) in a fresh process:
                              ``call <result>|<Error>:<reason> leak <none|msg>``
  collect NAME N              a process NAME expecting ("seq", 0..N-1)
                              prints ``collected NAME ok|bad`` when done
  flood NODE NAME N           send N ("seq", i) to (NAME, NODE) from one process
  watch NODE NAME             link+monitor the pid of (NAME, NODE) (trapping):
                              later ``down NAME <reason>`` and ``exit NAME <reason>``
  crash NAME REASON           exit(whereis(NAME), REASON)
  greg NAME                   a new idle process takes global NAME: ``greg NAME ok|taken``
  gwhere NAME                 ``gwhere NAME <owner's node>|none``
  join G                      a new idle process joins group G
  members G                   ``members G <sorted member nodes, comma-joined>``
  watch_nodes                 later ``nodeup N`` / ``nodedown N`` lines
  remember NODE NAME          keep the pid of (NAME, NODE)
  probe NAME                  monitor the kept pid: ``probe NAME <reason>``
  stats                       ``stats <bad_frames> <dropped>``
Prints ``ready`` once connected to the engine.
"""
import sys
import time

import gevent
from gevent.fileobject import FileObjectPosix

from beamish import (CallExit, CallTimeout, ChildSpec, GenServer, call, exit, link, monitor,
                     process_flag, receive, register, self, send, spawn, spawn_link, whereis)
from beamish.dist import (Dist, join, members, monitor_nodes, nodes,
                          register_name, stats, whereis_name)
from beamish.pubsub import PubSub, RedisAdapter, default_adapter

PUBSUB = "cluster"


def add_arguments(parser):
    parser.add_argument("--redis", default=None)
    parser.add_argument("--secret", default="s3cret")
    parser.add_argument("--hb", type=float, default=0.1)
    parser.add_argument("--down", type=float, default=1.0)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Echo(GenServer):
    def handle_call(self, request, from_):
        match request:
            case "whoami":
                return self.pid
            case ("sleep", s):
                gevent.sleep(s)
                return "slept"
            case _:
                return request


def idle():
    receive("never")


def parse(word):
    try:
        return int(word)
    except ValueError:
        return word


def caller(node, name, req, timeout):
    try:
        got = repr(call((name, node), req, timeout))
    except (CallExit, CallTimeout) as e:
        got = f"{type(e).__name__}:{e.reason}"
    late = receive(timeout=0.5, default=None)
    out(f"call {got} leak {'none' if late is None else repr(late)}")


def collector(name, n):
    register(name, self())
    out(f"collecting {name}")
    ok = all(receive(timeout=20) == ("seq", i) for i in range(n))
    out(f"collected {name} {'ok' if ok else 'bad'}")


def flooder(node, name, n):
    for i in range(n):
        send((name, node), ("seq", i))
        if i % 500 == 0:
            gevent.sleep(0)


def watcher(name, pid):
    process_flag("trap_exit", True)
    link(pid)
    monitor(pid)
    call(pid, "whoami")     # ordered after the link and monitor: both are set there now
    out(f"watching {name}")
    for _ in range(2):
        msg = receive()
        kind = "down" if msg[0] == "DOWN" else "exit"
        out(f"{kind} {name} {msg[-1]}")


def node_watcher():
    monitor_nodes()
    out("watching_nodes")
    while True:
        kind, node = receive()
        out(f"{kind} {node}")


def prober(name, pid):
    monitor(pid)
    send(pid, "hello?")
    out(f"probe {name} {receive()[-1]}")


def console():
    out("ready")
    kept = {}
    for line in FileObjectPosix(0, "r", close=False):
        cmd, *args = line.split()
        if cmd == "nodes":
            out("nodes " + ",".join(nodes()))
        elif cmd == "serve":
            Echo.start(name=args[0])
            out(f"serving {args[0]}")
        elif cmd == "call":
            spawn(caller, args[0], args[1], parse(args[2]), float(args[3]))
        elif cmd == "sleepcall":
            spawn(caller, args[0], args[1], ("sleep", float(args[2])), float(args[3]))
        elif cmd == "collect":
            spawn(collector, args[0], int(args[1]))
        elif cmd == "flood":
            spawn(flooder, args[0], args[1], int(args[2]))
            out("flooding")
        elif cmd == "watch":
            pid = call((args[1], args[0]), "whoami")
            spawn(watcher, args[1], pid)
        elif cmd == "crash":
            exit(whereis(args[0]), args[1])
        elif cmd == "greg":
            pid = spawn(idle)
            try:
                register_name(args[0], pid)
                out(f"greg {args[0]} ok")
            except Exception:
                exit(pid, "kill")
                out(f"greg {args[0]} taken")
        elif cmd == "gwhere":
            pid = whereis_name(args[0])
            out(f"gwhere {args[0]} {pid.node if pid else 'none'}")
        elif cmd == "join":
            join(args[0], spawn(idle))
            out(f"joined {args[0]}")
        elif cmd == "members":
            out(f"members {args[0]} " + ",".join(sorted(p.node for p in members(args[0]))))
        elif cmd == "watch_nodes":
            spawn(node_watcher)
        elif cmd == "remember":
            kept[args[1]] = call((args[1], args[0]), "whoami")
            out(f"remembered {args[1]}")
        elif cmd == "probe":
            spawn(prober, args[0], kept[args[0]])
        elif cmd == "stats":
            s = stats()
            out(f"stats {s['bad_frames']} {s['dropped']}")


def children(config):
    adapter = RedisAdapter(config.redis) if config.redis else default_adapter()
    return [PubSub.child_spec(PUBSUB, adapter=adapter),
            Dist.child_spec(PUBSUB, secret=config.secret, heartbeat=config.hb,
                            down_period=config.down),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
