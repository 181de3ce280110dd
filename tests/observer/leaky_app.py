"""A tiny application for the ``--check`` tests, run as a ``beamish run`` OS
process.

``--leak`` adds a deliberately naive subscription server: every
"subscribe" monitors the subscriber again and nothing ever demonitors, the
duplicate-monitor leak Phoenix.PubSub once had.  A ticker plays a client
that re-subscribes every 50 ms.  ``--grow`` adds a server that keeps what it
is sent: 512 KiB more state ten times a second (at most 60 MiB), while its
process record stays the same size.  Without either the app only idles.
"""
from beamish import GenServer, call, cast, monitor, send_after


def add_arguments(parser):
    parser.add_argument("--leak", action="store_true")
    parser.add_argument("--grow", action="store_true")


class Counter(GenServer):
    """An idle, well-behaved server."""

    def init(self):
        self.n = 0

    def handle_call(self, request, from_):
        self.n += 1
        return self.n


class NaiveSubscriptions(GenServer):
    """Monitors the subscriber on every subscribe; never demonitors."""

    def init(self):
        self.subscribers = []

    def handle_cast(self, msg):
        _, pid = msg
        monitor(pid)        # the bug: a new monitor for a pid already watched
        self.subscribers.append(pid)


class Subscriber(GenServer):
    def init(self):
        send_after(0.05, _me(), "tick")

    def handle_info(self, msg):
        if msg == "tick":
            cast("naive_subscriptions", ("subscribe", _me()))
            send_after(0.05, _me(), "tick")


class Hoarder(GenServer):
    """Appends a blob to its state every 100 ms and never lets one go."""

    BLOB = 512 * 1024
    MOST = 120

    def init(self):
        self.blobs = []
        send_after(0.1, _me(), "more")

    def handle_info(self, msg):
        if msg == "more" and len(self.blobs) < self.MOST:
            self.blobs.append(bytes(self.BLOB))
            send_after(0.1, _me(), "more")


def _me():
    from beamish import self
    return self()


def children(config):
    from beamish import ChildSpec
    kids = [ChildSpec(id="counter", start=Counter.start_link, kwargs={"name": "counter"})]
    if config.leak:
        kids += [ChildSpec(id="naive", start=NaiveSubscriptions.start_link,
                           kwargs={"name": "naive_subscriptions"}),
                 ChildSpec(id="subscriber", start=Subscriber.start_link)]
    if config.grow:
        kids.append(ChildSpec(id="hoarder", start=Hoarder.start_link, kwargs={"name": "hoarder"}))
    return kids


def started(config):
    call("counter", "ping")
    print("started", flush=True)
