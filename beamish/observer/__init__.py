"""The observer: a node's control endpoint, leak detectors, and the
``beamish observer`` client and terminal UI.

The node side (:func:`start_control_endpoint`) reads the runtime only
through its introspection records and :mod:`beamish.lowlevel`'s read-only
view; the observer side (:func:`connect`,
:class:`Client`, the UI) talks to a node only through the endpoint.  The
leak detectors (:func:`find_suspects`) are pure functions over samples.
"""
from ._client import Client, ProcessList, connect, find_node, live_nodes
from ._endpoint import (REGISTERED_NAME, control_endpoint_spec, start_control_endpoint,
                        stop_control_endpoint)
from ._errors import (AuthError, CookieError, EndpointError, NodeNotFound, ObserverError,
                      ObserverProtocolError, RemoteError, RuntimeDirError)
from ._leaks import (DUPLICATE_MONITORS, LINK_GROWTH, MAILBOX_GROWTH, MEMORY_GROWTH,
                     MONITOR_GROWTH, PROCESS_GROWTH, Sample, Suspect, Thresholds, find_suspects)
from ._main import add_arguments, check_arguments, main
from ._paths import cookie_path, local_nodes, read_cookie, runtime_dir, socket_path
from ._records import (COLUMNS, HistoryPoint, MonitorRow, NodeInfo, ProcessDetail, ProcRow,
                       SocketRow, TreeNode)
from ._slicer import SliceCost

__all__ = [
    "AuthError", "COLUMNS", "Client", "CookieError", "DUPLICATE_MONITORS", "EndpointError",
    "HistoryPoint", "LINK_GROWTH", "MAILBOX_GROWTH", "MEMORY_GROWTH", "MONITOR_GROWTH",
    "MonitorRow", "NodeInfo", "NodeNotFound", "ObserverError", "ObserverProtocolError",
    "PROCESS_GROWTH", "ProcRow", "ProcessDetail", "ProcessList", "REGISTERED_NAME",
    "RemoteError", "RuntimeDirError", "Sample", "SliceCost", "SocketRow", "Suspect",
    "Thresholds", "TreeNode", "add_arguments", "check_arguments", "connect",
    "control_endpoint_spec", "cookie_path", "find_node", "find_suspects", "live_nodes", "main",
    "local_nodes", "read_cookie", "runtime_dir", "socket_path", "start_control_endpoint",
    "stop_control_endpoint",
]
