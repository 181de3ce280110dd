"""OTP behaviours: GenServer, supervisors, tasks, registries, applications."""
from ._dynamic_supervisor import DynamicSupervisor
from ._errors import CallExit, CallTimeout, StartError, SupervisorError
from ._gen_server import IGNORE, GenServer, NoReply, Reply, Stop, call, cast, reply, stop
from ._supervisor import (ChildSpec, Supervisor, child_spec, count_children, delete_child,
                          restart_child, start_child, terminate_child, which_children)

__all__ = [
    "CallExit", "CallTimeout", "ChildSpec", "DynamicSupervisor", "GenServer", "IGNORE",
    "NoReply", "Reply", "StartError", "Stop", "Supervisor", "SupervisorError", "call", "cast",
    "child_spec", "count_children", "delete_child", "reply", "restart_child", "start_child",
    "stop", "terminate_child", "which_children",
]
