import pytest

from beamish import (NameTaken, NoProc, NotRegistered, exit, receive, register, registered, self,
                     spawn, unregister, whereis)
from beamish.testing import settle


def idle():
    receive("never")


def test_register_whereis_unregister():
    pid = spawn(idle)
    register("svc", pid)
    assert whereis("svc") == pid and "svc" in registered()
    unregister("svc")
    assert whereis("svc") is None and "svc" not in registered()
    exit(pid, "kill")


def test_a_name_taken_twice_raises():
    a, b = spawn(idle), spawn(idle)
    register("svc", a)
    with pytest.raises(NameTaken, match="svc"):
        register("svc", b)
    with pytest.raises(NameTaken):
        register("other", a)
    exit(a, "kill")
    exit(b, "kill")


def test_the_name_is_freed_when_the_process_exits():
    pid = spawn(idle)
    register("svc", pid)
    exit(pid, "kill")
    settle()
    assert whereis("svc") is None
    again = spawn(idle)
    register("svc", again)
    exit(again, "kill")


def test_registering_a_dead_pid_raises_noproc():
    dead = spawn(lambda: None)
    settle()
    with pytest.raises(NoProc):
        register("ghost", dead)


def test_unregistering_an_unknown_name_raises():
    with pytest.raises(NotRegistered):
        unregister("never_registered")


def test_names_must_be_strings():
    pid = spawn(idle)
    with pytest.raises(ValueError):
        register(42, pid)
    exit(pid, "kill")
    assert self()
