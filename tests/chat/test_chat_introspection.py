"""A chat room shows who it is: its initial call names Room and its label
is the room's name (what the observer lists)."""
import pytest

from beamish import Registry, process_info
from tools.harness.client import joined
from test_chat import chat, user  # noqa: F401  (the fixture, and a logged-in client)

pytestmark = pytest.mark.timeout(60)


def test_a_room_process_is_labelled_with_its_room_name(chat):  # noqa: F811
    from apps.chat import settings
    alice = user(chat, "alice")
    joined(alice, "room:lobby")
    pid = Registry.whereis_name((settings.ROOMS, "lobby"))
    info = process_info(pid)
    assert info.label == "lobby"
    assert info.initial_call == "apps.chat.room:Room.init"
    alice.close()
