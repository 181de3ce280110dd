"""A two-minute tour of beamish's process model: links, monitors, a crash.

Run it with ``make run`` (or ``python tools/demo.py``).
"""
import logging

from beamish import (ANY, exit, monitor, process_flag, process_info, receive, self, send,
                     spawn, spawn_link)


def worker(n):
    """Doubles numbers; crashes on a string, as code does."""
    while True:
        match receive():
            case ("double", frm, x):
                send(frm, ("doubled", n, x * 2))
            case "stop":
                return


def keeper(parent):
    """Traps exits so a crashing worker becomes a message, then restarts it."""
    process_flag("trap_exit", True)
    workers = {spawn_link(worker, n): n for n in range(3)}
    send(parent, ("workers", list(workers)))
    while True:
        msg = receive()
        match msg:
            case ("EXIT", pid, reason) if pid in workers:
                n = workers.pop(pid)
                print(f"  keeper: worker {n} {pid!r} exited with {reason!r}; restarting it")
                new = spawn_link(worker, n)
                workers[new] = n
                send(parent, ("restarted", n, new))
            case "stop":
                for pid in workers:
                    exit(pid, "shutdown")
                return


def main():
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    me = self()
    print(f"main process is {me!r}")
    k = spawn(keeper, me)
    ref = monitor(k)
    _, pids = receive(("workers", ANY))
    print(f"keeper {k!r} started workers {pids}")

    send(pids[0], ("double", me, 21))
    print("worker 0 says:", receive(("doubled", ANY, ANY)))

    print("asking worker 1 to double None: it crashes, the link tells the keeper")
    send(pids[1], ("double", me, None))
    _, n, new = receive(("restarted", ANY, ANY), timeout=2)
    send(new, ("double", me, 5))
    print(f"restarted worker {n} as {new!r}; it says:", receive(("doubled", ANY, ANY)))

    info = process_info(k)
    print(f"keeper info: status={info.status} links={len(info.links)} "
          f"monitored_by={info.monitored_by} reductions={info.reductions}")

    send(k, "stop")
    down = receive(("DOWN", ref, ANY, ANY, ANY), timeout=2)
    print(f"keeper is down: {down}")


if __name__ == "__main__":
    main()
