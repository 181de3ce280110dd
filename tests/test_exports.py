"""Each package's public face, pinned: ``__all__`` is exactly what a user
needs, every name in it exists, and every error a package exports is a
:class:`~beamish.BeamishError` with a name no other exported error has.

A change to a face is a change to beamish's API: make it here on purpose.
"""
from __future__ import annotations

import importlib

import pytest

import beamish

EXPORTS = {
    "beamish": [
        "ANY", "AlreadyRegistered", "AlreadyStarted", "BadArg", "BadGenServer", "BeamishError",
        "CallExit", "CallTimeout", "ChildSpec", "ChildSpecError", "Down", "DynamicSupervisor",
        "Exit", "ExitMsg", "GenServer", "IGNORE", "LongSchedule", "MonitorInfo", "NameTaken",
        "NoProc", "NoReply", "NotAProcess", "NotRegistered", "Pid", "ProcessInfo",
        "ReceiveTimeout", "Ref", "Registry", "Reply", "RestartIntensity", "StartError", "Stop",
        "Supervisor", "SupervisorError", "SysStatus", "Task", "TaskExit", "TaskSupervisor",
        "TaskTimeout", "TimerRef", "UnknownRegistry", "UnknownRequest", "__version__", "alias",
        "call", "cancel_timer", "cast", "child_spec", "count_children", "delete_child",
        "demonitor", "exit", "get_label", "get_state", "get_status", "hibernate", "is_alive",
        "link", "long_schedules", "make_ref", "monitor", "node", "node_creation", "process_count",
        "process_flag", "process_info", "processes", "receive", "register", "registered",
        "replace_state", "reply", "restart_child", "self", "send", "send_after", "set_label",
        "set_node_name", "sleep", "spawn", "spawn_link", "spawn_monitor", "spawn_opt",
        "start_child", "start_server", "start_system_monitor", "stop", "stop_system_monitor",
        "terminate_child", "unalias", "unlink", "unregister", "whereis", "which_children"
    ],
    "beamish.core": [
        "ANY", "BadArg", "BeamishError", "Down", "Exit", "ExitMsg", "LongSchedule",
        "MonitorInfo", "NameTaken", "NoProc", "NotAProcess", "NotRegistered", "Pid",
        "ProcessInfo", "ReceiveTimeout", "Ref", "TimerRef", "alias", "cancel_timer",
        "demonitor", "exit", "get_label", "hibernate", "is_alive", "link", "long_schedules",
        "make_ref", "monitor", "node", "node_creation", "process_count", "process_flag",
        "process_info", "processes", "receive", "register", "registered", "self", "send",
        "send_after", "set_label", "set_node_name", "spawn", "spawn_link", "spawn_monitor",
        "spawn_opt", "start_system_monitor", "stop_system_monitor", "unalias", "unlink",
        "unregister", "whereis"
    ],
    "beamish.lowlevel": [
        "CodecError", "InstanceTaken", "Process", "RuntimeView", "await_reply", "call_process",
        "current_process", "decode_term", "deliver", "demonitor_as", "describe_process",
        "encode_term", "end_call_monitor", "exit_pending", "flush_mailbox", "initial_call_of",
        "instance", "instance_entries", "instance_table", "instances", "is_clean_exit",
        "is_hibernate_unwind", "lookup", "mark_reported", "monitor_as", "process_state_object",
        "put_instance", "register_term", "remote_down", "remote_exit", "remote_link", "remote_unlink",
        "remove_instance", "run_callback", "runtime_view", "set_initial_call",
        "set_remote_router", "set_state_object", "tags", "take_first", "take_reply",
        "was_reported"
    ],
    "beamish.otp": [
        "AlreadyRegistered", "AlreadyStarted", "BadGenServer", "CallExit", "CallTimeout",
        "ChildSpec", "ChildSpecError", "DynamicSupervisor", "GenServer", "IGNORE",
        "NoReply", "Registry", "Reply", "RestartIntensity", "StartError", "Stop",
        "Supervisor", "SupervisorError", "SysStatus", "Task", "TaskExit", "TaskSupervisor",
        "TaskTimeout", "UnknownRegistry", "UnknownRequest", "call", "cast", "child_spec",
        "count_children", "delete_child", "get_state", "get_status", "replace_state",
        "reply", "restart_child", "start_child", "start_server", "stop",
        "terminate_child", "which_children"
    ],
    "beamish.otp.behaviour": [
        "Behaviour", "InitIgnored", "InitStopped", "Loop", "NOTHING", "NoReply", "Reply",
        "Stop", "enter_loop", "gen_call", "serve", "start_behaviour", "stopping"
    ],
    "beamish.pubsub": [
        "Adapter", "Broadcast", "FASTLANE_TAG", "Fastlane", "HOST_CLUSTER_ENV",
        "HostAdapter", "HostRelay", "LocalAdapter", "MemoryAdapter", "MemoryCluster",
        "PubSub", "RedisAdapter", "RelayStats", "broadcast", "broadcast_from",
        "default_adapter", "direct_broadcast", "instances", "local_broadcast",
        "local_broadcast_from", "node_name", "register_dispatcher", "relay_statistics",
        "shard_stats", "subscribe", "subscribers", "topic_counts", "unsubscribe"
    ],
    "beamish.dist": [
        "Dist", "DistError", "NotDistributed", "RemoteException", "TOPIC", "global_names",
        "is_alive", "join", "known_nodes", "leave", "local_members", "members", "monitor_node",
        "monitor_nodes", "nodes",
        "rank", "register_name", "registered_names", "stats", "unregister_name",
        "whereis_name", "which_groups"
    ],
    "beamish.dist.wire": [
        "BadFrame", "MAC_SIZE", "VERSION", "decode_op", "encode_op", "open_frame", "seal"
    ],
    "beamish.presence": [
        "AlreadyTracked", "DIFF_WINDOW", "NoPresence", "Presence", "PresenceError",
        "Tracker", "get_by_key", "group", "list_presence", "list_tracked", "purge", "replicas",
        "track", "trackers", "untrack", "update"
    ],
    "beamish.presence.crdt": [
        "DEFAULT_MAX_SIZES", "Delta", "Diff", "Entry", "Extract", "Payload", "Replica",
        "ReplicaStatus", "State", "Tag", "append_clock", "clocks", "clockset_replicas",
        "combine_clocks", "compact", "copy", "delta_size", "dominates",
        "dominates_or_equal", "extract", "extract_transfer", "get_by_key", "get_by_pid",
        "get_by_replica", "get_by_topic", "get_local", "has_delta", "join", "leave",
        "leave_pid", "lowerbound", "merge", "merge_deltas", "new_replica", "online_list",
        "push_generation", "remove_down_generations", "remove_down_replicas",
        "replica_down", "replica_up", "replicas_to_ask", "reset_delta", "update",
        "upperbound"
    ],
    "beamish.channels": [
        "Broadcast", "Channel", "ConnectionClosed", "Endpoint", "ExpiredToken",
        "InvalidToken", "Message", "MsgpackSerializer", "Payload", "ProtocolError",
        "Reply", "Serializer", "Socket", "TokenError", "V2JSONSerializer", "broadcast",
        "disconnect", "sign", "verify"
    ],
    "beamish.channels.wire": [
        "Frame", "HEARTBEAT", "Opcode", "PHOENIX_TOPIC", "PHX_CLOSE", "PHX_ERROR",
        "PHX_JOIN", "PHX_LEAVE", "PHX_REPLY", "RESERVED_EVENTS", "VSN_JSON", "VSN_MSGPACK",
        "opcode_of", "serializer_for_vsn"
    ],
    "beamish.observer": [
        "AuthError", "COLUMNS", "Client", "CookieError", "DUPLICATE_MONITORS",
        "EndpointError", "HistoryPoint", "LINK_GROWTH", "MAILBOX_GROWTH", "MEMORY_GROWTH",
        "MONITOR_GROWTH", "MonitorRow", "NodeInfo", "NodeNotFound", "ObserverError",
        "ObserverProtocolError", "PROCESS_GROWTH", "ProcRow", "ProcessDetail",
        "ProcessList", "REGISTERED_NAME", "RemoteError", "RuntimeDirError", "Sample",
        "SliceCost", "SocketRow", "Suspect", "Thresholds", "TreeNode", "add_arguments",
        "check_arguments", "connect", "control_endpoint_spec", "cookie_path", "find_node",
        "find_suspects", "live_nodes", "local_nodes", "main", "read_cookie", "runtime_dir",
        "socket_path", "start_control_endpoint", "stop_control_endpoint"
    ],
    "beamish.boot": [
        "EXIT_OK", "EXIT_ROOT_FAILED", "EXIT_START_FAILED", "NodeNameInUse",
        "NotAnApplication", "RunError", "WORKER_ENV", "app_parser", "load_application",
        "run", "run_workers"
    ],
    "beamish.testing": [
        "ErrorReports", "EventuallyTimeout", "LeakError", "SettleTimeout", "Snapshot",
        "UnexpectedCrash", "assert_receive", "assert_received", "beamish_no_crashes",
        "beamish_no_leaks", "check_leaks", "eventually", "flush", "refute_receive", "settle",
        "snapshot"
    ],
}


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_all_is_pinned(module):
    assert sorted(importlib.import_module(module).__all__) == EXPORTS[module]


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_every_exported_name_exists_once(module):
    mod = importlib.import_module(module)
    assert len(set(mod.__all__)) == len(mod.__all__)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []


def test_no_subpackage_shadows_a_name_of_the_beamish_face():
    # Importing beamish.X binds X on the beamish package, replacing any
    # function of that name (beamish.node() must stay the function).
    import pkgutil
    subpackages = {m.name for m in pkgutil.iter_modules(beamish.__path__)}
    assert subpackages & set(beamish.__all__) == set()
    importlib.import_module("beamish.boot")
    assert callable(beamish.node) and beamish.node() == beamish.core.node()


def _exported_errors() -> dict:
    """name -> set of the exception classes exported under that name."""
    found: dict = {}
    for module in EXPORTS:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            value = getattr(mod, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found.setdefault(name, set()).add(value)
    return found


def test_every_exported_error_is_a_beamish_error():
    # Exit (and CallExit, TaskExit...) end processes: BaseException, so
    # that ``except Exception`` cannot swallow them, as gevent's GreenletExit.
    errors = [cls for classes in _exported_errors().values() for cls in classes
              if not issubclass(cls, beamish.Exit)]
    assert errors
    assert [cls.__qualname__ for cls in errors if not issubclass(cls, beamish.BeamishError)] == []


def test_no_two_exported_errors_share_a_name():
    assert {name: classes for name, classes in _exported_errors().items() if len(classes) > 1} == {}
