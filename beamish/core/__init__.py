"""The process runtime: pids, mailboxes, links, monitors, names, introspection."""
from ._errors import (BadArg, BeamishError, Exit, NameTaken, NoProc, NotAProcess,
                      NotRegistered, ReceiveTimeout)
from ._ids import Pid, Ref, make_ref, node, node_creation, set_node_name
from ._info import process_count, process_info, processes
from ._pattern import ANY
from ._process import (TimerRef, alias, cancel_timer, demonitor, exit, get_label, hibernate,
                       is_alive, link, monitor, process_flag, receive, register, registered,
                       self, send, send_after, set_label, spawn, spawn_link, spawn_monitor,
                       spawn_opt, unalias, unlink, unregister, whereis)
from ._records import Down, ExitMsg, MonitorInfo, ProcessInfo
from ._sysmon import LongSchedule, long_schedules, start_system_monitor, stop_system_monitor

__all__ = [
    "ANY", "BadArg", "BeamishError", "Down", "Exit", "ExitMsg", "LongSchedule", "MonitorInfo",
    "NameTaken", "NoProc", "NotAProcess", "NotRegistered", "Pid", "ProcessInfo",
    "ReceiveTimeout", "Ref", "TimerRef", "alias", "cancel_timer", "demonitor", "exit", "get_label",
    "hibernate", "is_alive", "link", "long_schedules", "make_ref", "monitor", "node",
    "node_creation", "process_count", "process_flag", "process_info", "processes", "receive", "register",
    "registered", "self", "send", "send_after", "set_label", "set_node_name", "spawn",
    "spawn_link", "spawn_monitor", "spawn_opt", "start_system_monitor", "stop_system_monitor",
    "unalias", "unlink", "unregister", "whereis",
]
