import gevent
import pytest

from beamish import (ANY, Exit, ExitMsg, NoProc, exit, link, monitor, process_flag, process_info,
                     receive, self, send, spawn, spawn_link, spawn_opt, unlink)
from beamish.testing import assert_receive, refute_receive, settle


def wait_forever():
    receive("never")


def trapper(parent, *targets):
    """A process that traps exits and reports every signal to the parent."""
    process_flag("trap_exit", True)
    for t in targets:
        link(t)
    send(parent, ("ready", self()))
    while True:
        send(parent, ("trapped", receive()))


def spawn_trapper(*targets):
    pid = spawn(trapper, self(), *targets)
    assert_receive(("ready", pid))
    return pid


def test_a_crash_kills_linked_processes_with_the_exception_as_reason():
    err = ValueError("boom")

    def crasher():
        receive("go")
        raise err
    a = spawn(crasher)
    b = spawn(wait_forever)
    ref = monitor(b)
    spawn_opt(lambda: (link(a), link(b), receive("never")))
    settle()
    send(a, "go")
    down = assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert down.reason is err, "the reason travels unchanged along the chain of links"
    assert down.reason.__traceback__ is not None


def test_links_are_bidirectional_and_propagate_crashes_through_chains():
    a = spawn(wait_forever)
    b = spawn(lambda: (link(a), receive("never")))
    settle()
    ref_b = monitor(b)
    exit(a, "boom")
    down = assert_receive(("DOWN", ref_b, ANY, ANY, ANY))
    assert down.reason == "boom"


def test_trap_exit_turns_signals_into_exit_messages():
    victim = spawn(wait_forever)
    t = spawn_trapper(victim)
    exit(victim, "shutdown")
    assert assert_receive(("trapped", ANY)) == ("trapped", ("EXIT", victim, "shutdown"))
    exit(t, "kill")


def test_shutdown_with_a_term_is_a_reason_like_any_other():
    victim = spawn(wait_forever)
    t = spawn_trapper(victim)
    exit(victim, ("shutdown", {"why": "deploy"}))
    msg = assert_receive(("trapped", ANY))[1]
    assert isinstance(msg, ExitMsg) and msg.reason == ("shutdown", {"why": "deploy"})
    exit(t, "kill")


def test_kill_cannot_be_trapped_and_linked_processes_see_killed():
    t1 = spawn_trapper()
    t2 = spawn_trapper(t1)
    ref = monitor(t1)
    exit(t1, "kill")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "killed"
    assert assert_receive(("trapped", ANY)) == ("trapped", ("EXIT", t1, "killed"))
    exit(t2, "kill")


def test_exit_normal_is_ignored_by_a_non_trapping_target():
    pid = spawn(wait_forever)
    exit(pid, "normal")
    settle()
    assert process_info(pid) is not None
    exit(pid, "kill")


def test_exit_normal_reaches_a_trapping_target_as_a_message():
    t = spawn_trapper()
    exit(t, "normal")
    assert assert_receive(("trapped", ANY)) == ("trapped", ("EXIT", self(), "normal"))
    exit(t, "kill")


def test_a_normal_exit_does_not_kill_linked_processes():
    survivor = spawn(wait_forever)
    spawn(lambda: link(survivor))
    settle()
    assert process_info(survivor) is not None and process_info(survivor).links == ()
    exit(survivor, "kill")


def test_exit_normal_on_oneself_ends_the_process_normally():
    def self_exit(parent):
        exit(self(), "normal")
        send(parent, "not reached")
    pid, ref = spawn_opt(self_exit, (self(),), monitor=True)
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "normal"
    refute_receive("not reached", timeout=0)


def test_linking_to_a_dead_pid_raises_noproc():
    dead = spawn(lambda: None)
    settle()
    with pytest.raises(NoProc):
        link(dead)


def test_linking_to_a_dead_pid_while_trapping_sends_exit_noproc():
    dead = spawn(lambda: None)
    settle()

    def trap_and_link(parent):
        process_flag("trap_exit", True)
        link(dead)
        send(parent, receive())
    spawn(trap_and_link, self())
    assert assert_receive(ExitMsg) == ("EXIT", dead, "noproc")


def test_unlink_removes_the_link_on_both_sides():
    a = spawn(wait_forever)
    link(a)
    assert self() in process_info(a).links
    unlink(a)
    assert process_info(a).links == () and process_info(self()).links == ()
    exit(a, "kill")


def test_an_exit_signal_is_not_swallowed_by_except_exception():
    def stubborn(parent):
        try:
            send(parent, "ready")
            receive("never")
        except Exception:
            send(parent, "swallowed")
    pid, ref = spawn_opt(stubborn, (self(),), monitor=True)
    assert_receive("ready")
    exit(pid, "shutdown")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "shutdown"
    refute_receive("swallowed", timeout=0)


def test_a_swallowed_exit_is_raised_again_at_the_next_receive():
    def very_stubborn(parent):
        try:
            send(parent, "ready")
            receive("never")
        except BaseException:
            send(parent, "caught once")
        receive("never")
        send(parent, "not reached")
    pid, ref = spawn_opt(very_stubborn, (self(),), monitor=True)
    assert_receive("ready")
    exit(pid, "shutdown")
    assert_receive("caught once")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "shutdown"
    refute_receive("not reached", timeout=0)


def test_a_process_blocked_in_gevent_sleep_is_killed_by_a_signal():
    pid, ref = spawn_opt(lambda: gevent.sleep(30), monitor=True)
    settle()
    exit(pid, "shutdown")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=1).reason == "shutdown"


def test_a_process_blocked_on_a_socket_is_killed_and_finally_blocks_run():
    from gevent import socket
    a, b = socket.socketpair()

    def reader(parent):
        try:
            send(parent, "reading")
            a.recv(10)
        finally:
            send(parent, "cleaned up")
    pid, ref = spawn_opt(reader, (self(),), monitor=True)
    assert_receive("reading")
    exit(pid, "kill")
    assert_receive("cleaned up")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "killed"
    a.close()
    b.close()


def test_a_killed_process_not_yet_started_never_runs():
    ran = []
    pid, ref = spawn_opt(lambda: ran.append(1), monitor=True)
    exit(pid, "kill")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "killed"
    assert ran == [], "a process killed before it is scheduled never runs (as in Erlang)"


def test_the_main_process_dies_by_a_crashing_linked_process():
    def crash():
        gevent.sleep(0.01)
        raise RuntimeError("linked crash")
    before = self()
    spawn_link(crash)
    with pytest.raises(Exit) as info:
        gevent.sleep(1)
    assert isinstance(info.value.reason, RuntimeError)
    assert self() != before, "the main greenlet comes back as a fresh process, like a shell"


def test_spawn_link_links_both_ways_at_once():
    pid = spawn_link(wait_forever)
    assert pid in process_info(self()).links
    assert self() in process_info(pid).links
    unlink(pid)
    exit(pid, "kill")
