"""OTP behaviours: GenServer, supervisors, tasks, registries, applications."""
from ._dynamic_supervisor import DynamicSupervisor
from ._errors import (AlreadyRegistered, AlreadyStarted, BadGenServer, CallExit, CallTimeout,
                      ChildSpecError, StartError, SupervisorError, TaskExit, TaskTimeout,
                      UnknownRegistry, UnknownRequest)
from ._gen_server import IGNORE, GenServer, NoReply, Reply, Stop, call, cast, reply, stop
from ._registry import Registry
from ._supervisor import (ChildSpec, Supervisor, child_spec, count_children, delete_child,
                          restart_child, start_child, terminate_child, which_children)
from ._task import Task
from ._task_supervisor import TaskSupervisor

__all__ = [
    "CallExit", "CallTimeout", "ChildSpec", "DynamicSupervisor", "GenServer", "IGNORE",
    "NoReply", "Reply", "StartError", "Stop", "Supervisor", "SupervisorError", "call", "cast",
    "child_spec", "count_children", "delete_child", "reply", "restart_child", "start_child",
    "stop", "terminate_child", "which_children",
    "AlreadyRegistered", "AlreadyStarted", "Registry", "Task", "TaskExit", "TaskSupervisor",
    "TaskTimeout", "UnknownRegistry", "BadGenServer", "ChildSpecError", "UnknownRequest",
]
