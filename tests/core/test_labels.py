"""Process labels (Elixir 1.17's Process.set_label): shown by process_info
and named in crash reports."""
import logging

import pytest

import beamish
from beamish import ANY, monitor, process_info, receive, self, send, spawn
from beamish.testing import assert_receive


def labelled(parent, label):
    beamish.set_label(label)
    send(parent, "labelled")
    receive("go")


def test_a_label_is_read_back_and_shown_in_process_info():
    pid = spawn(labelled, self(), ("room", "lobby"))
    assert_receive("labelled", timeout=1)
    assert beamish.get_label(pid) == ("room", "lobby")
    assert process_info(pid).label == ("room", "lobby")
    ref = monitor(pid)
    send(pid, "go")
    assert_receive(("DOWN", ref, ANY, ANY, "normal"), timeout=1)
    assert beamish.get_label(pid) is None   # dead: no label


def test_an_unlabelled_process_has_none_and_a_label_can_be_removed():
    assert process_info(self()).label is None and beamish.get_label(self()) is None
    beamish.set_label("me")
    assert beamish.get_label(self()) == "me"
    beamish.set_label(None)
    assert process_info(self()).label is None


@pytest.mark.crashes_expected
def test_a_crash_report_names_the_label(caplog):
    def doomed():
        beamish.set_label("importer")
        raise KeyError("lost")
    with caplog.at_level(logging.ERROR, logger="beamish"):
        pid = spawn(doomed)
        ref = monitor(pid)
        assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=1)
    [rec] = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert f"{pid!r} (label 'importer')" in rec.getMessage()
