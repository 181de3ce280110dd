"""The message records, the reserved names, and the layer's shape: what the
package exports, and that the wire layer stays pure (no I/O imports)."""
import ast
import dataclasses
import inspect
import pathlib
import sys

import pytest

import beamish.channels
import beamish.pubsub
from beamish.channels import Broadcast, Message, Reply
from beamish.channels.wire import (HEARTBEAT, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN,
                                   PHX_LEAVE, PHX_REPLY, RESERVED_EVENTS)

RECORDS = [
    Message("6", "6", "room:lobby", "phx_join", {"nick": "carol"}),
    Reply("6", "6", "room:lobby", "ok", {"welcome": True}),
    Broadcast("room:lobby", "new_msg", {"body": "hi"}),
]


def test_reserved_names_are_the_wire_strings_of_the_spec():
    assert (PHX_JOIN, PHX_LEAVE, PHX_REPLY, PHX_ERROR, PHX_CLOSE, HEARTBEAT) == (
        "phx_join", "phx_leave", "phx_reply", "phx_error", "phx_close", "heartbeat")
    assert PHOENIX_TOPIC == "phoenix"
    assert RESERVED_EVENTS == {"phx_join", "phx_leave", "phx_reply", "phx_error", "phx_close", "heartbeat"}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_are_frozen(record):
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.topic = "elsewhere"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_are_slotted_and_carry_no_instance_dict(record):
    assert not hasattr(record, "__dict__")


def test_records_compare_by_value():
    assert Message(None, "1", "phoenix", "heartbeat", {}) == Message(None, "1", "phoenix", "heartbeat", {})
    assert Message(None, "1", "phoenix", "heartbeat", {}) != Message(None, "2", "phoenix", "heartbeat", {})
    assert Reply(None, "1", "t", "ok", {}) != Message(None, "1", "t", "ok", {})


def test_record_fields_are_in_wire_order():
    assert [f.name for f in dataclasses.fields(Message)] == ["join_ref", "ref", "topic", "event", "payload"]
    assert [f.name for f in dataclasses.fields(Reply)] == ["join_ref", "ref", "topic", "status", "response"]
    assert [f.name for f in dataclasses.fields(Broadcast)] == ["topic", "event", "payload"]


# -- the layer's shape -------------------------------------------------------


def test_every_exported_name_exists_and_comes_from_the_channels_layer():
    for name in beamish.channels.__all__:
        value = getattr(beamish.channels, name)
        if value is beamish.pubsub.Broadcast:
            continue   # PubSub's record, re-exported
        if inspect.isclass(value) or inspect.isfunction(value):  # not constants, not type aliases
            assert value.__module__.startswith("beamish.channels."), name
    assert len(set(beamish.channels.__all__)) == len(beamish.channels.__all__)


PURE_MODULES = ["_errors", "_message", "_serializer", "_token", "wire"]
ALLOWED = {"msgpack"} | set(sys.stdlib_module_names) - {"socket", "select", "selectors", "asyncio",
                                                         "threading", "ssl", "subprocess"}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_the_wire_layer_imports_no_io_and_no_gevent(module):
    path = pathlib.Path(beamish.channels.__file__).with_name(module + ".py")
    tree = ast.parse(path.read_text())
    type_only = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
                 for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue   # imported for annotations only, never at run time
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 2 and node.module == "core" \
                    and [a.name for a in node.names] == ["BeamishError"]:
                continue   # the one base class of every beamish error
            if node.level:  # relative imports must stay among the pure modules
                assert node.module in PURE_MODULES, f"{module} imports .{node.module}"
                continue
            roots = [node.module.split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in ALLOWED, f"{module} imports {root}"
