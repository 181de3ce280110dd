"""The system monitor does not warn of a hub held by a first import (the
node's start-up cost), but still of any other long schedule."""
import logging
import sys
import time

from beamish import ANY, monitor, spawn, start_system_monitor, stop_system_monitor
from beamish.testing import assert_receive, eventually

SLOW_MODULE = '''
import time
_t = time.monotonic()
while time.monotonic() - _t < 0.3:
    pass
'''


def test_a_long_schedule_while_importing_is_not_a_warning(tmp_path, monkeypatch, caplog):
    name = f"slow_import_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    events = []

    def importer():
        __import__(name)
    start_system_monitor(0.05, on_event=events.append)
    try:
        with caplog.at_level(logging.DEBUG, logger="beamish.core._sysmon"):
            pid = spawn(importer)
            ref = monitor(pid)
            assert_receive(("DOWN", ref, ANY, ANY, "normal"), timeout=5)
            eventually(lambda: events)     # the hub's next tick reports the episode
    finally:
        stop_system_monitor()
        sys.modules.pop(name, None)
    assert [(e.pid, e.importing) for e in events] == [(pid, True)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r for r in caplog.records
            if r.levelno == logging.DEBUG and "while importing" in r.getMessage()]
