"""OTP behaviours: GenServer, supervisors, tasks and registries.

Every behaviour process (GenServer and those built on it, channels,
sockets) answers OTP's ``sys`` requests: :func:`get_state`,
:func:`get_status`, :func:`replace_state`.  Packages that build processes
of a new kind on the same base use :mod:`beamish.otp.behaviour`.

(Applications and ``beamish run``, which boot a node on top of these, are
:mod:`beamish.boot`.)
"""
from ._behaviour import SysStatus, get_state, get_status, replace_state
from ._dynamic_supervisor import DynamicSupervisor
from ._errors import (AlreadyRegistered, AlreadyStarted, BadGenServer, CallExit, CallTimeout,
                      ChildSpecError, StartError, SupervisorError, TaskExit, TaskTimeout,
                      UnknownRegistry, UnknownRequest)
from ._gen_server import (IGNORE, GenServer, NoReply, Reply, Stop, call, cast, reply, start_server,
                          stop)
from ._registry import Registry
from ._supervisor import (ChildSpec, RestartIntensity, Supervisor, child_spec, count_children,
                          delete_child, restart_child, start_child, terminate_child,
                          which_children)
from ._task import Task
from ._task_supervisor import TaskSupervisor

__all__ = [
    "AlreadyRegistered", "AlreadyStarted", "BadGenServer", "CallExit", "CallTimeout",
    "ChildSpec", "ChildSpecError", "DynamicSupervisor", "GenServer", "IGNORE", "NoReply",
    "Registry", "Reply", "RestartIntensity", "StartError", "Stop", "Supervisor",
    "SupervisorError", "SysStatus", "Task", "TaskExit", "TaskSupervisor", "TaskTimeout",
    "UnknownRegistry", "UnknownRequest", "call", "cast", "child_spec", "count_children",
    "delete_child", "get_state", "get_status", "reply", "replace_state", "restart_child",
    "start_child", "start_server", "stop", "terminate_child", "which_children",
]
