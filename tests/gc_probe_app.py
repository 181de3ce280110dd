"""An application for ``tests/test_cli.py``: once the node has booted, it
prints the cyclic collector's thresholds and frozen object count."""
import gc

from beamish import ChildSpec, spawn_link


def _report():
    from beamish import receive
    receive(timeout=0.2, default=None)     # after run() has frozen the boot heap
    print(f"gc {gc.get_threshold()} frozen {gc.get_freeze_count()}", flush=True)
    receive()


def children(config):
    return [ChildSpec(id="probe", start=spawn_link, args=(_report,))]
