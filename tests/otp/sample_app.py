"""A small application for the ``beamish run`` tests (run as an OS process)."""
import sys

from beamish import GenServer, process_flag, send_after

max_restarts = 2
max_seconds = 5


def add_arguments(parser):
    parser.add_argument("--greeting", default="hello")
    parser.add_argument("--crash-loop", action="store_true")


class Speaker(GenServer):
    def init(self, label, config):
        process_flag("trap_exit", True)
        self.label = label
        print(f"init {label} {config.greeting} {config.node}", flush=True)
        if config.crash_loop and label == "b":
            send_after(0.05, self_pid(), "crash")

    def handle_info(self, msg):
        if msg == "crash":
            raise RuntimeError("crash loop")
        return super().handle_info(msg)

    def terminate(self, reason):
        print(f"terminate {self.label} {reason}", flush=True)


def self_pid():
    from beamish import self
    return self()


def children(config):
    from beamish import ChildSpec
    return [ChildSpec(id=label, start=Speaker.start_link, args=(label, config))
            for label in ("a", "b")]


def started(config):
    print("started", flush=True)
    sys.stdout.flush()
