"""Processes of one class share one initial-call string: a busy node starts
two behaviour processes per websocket join, and the label was built (and
kept, ~180 B) per process."""
from beamish import GenServer, process_info, stop


class Echo(GenServer):
    def init(self):
        return None


def test_servers_of_one_class_share_their_initial_call():
    a, b = Echo.start_link(), Echo.start_link()
    try:
        ca = process_info(a).initial_call
        cb = process_info(b).initial_call
        assert ca == f"{__name__}:Echo.init", ca
        assert ca is cb
    finally:
        stop(a)
        stop(b)
