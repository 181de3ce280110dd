"""The observer: a node's control endpoint, leak detectors, and the
``beamish observer`` client and terminal UI.

The node side (:func:`start_control_endpoint`) reads the runtime only
through its introspection records; the observer side (:func:`connect`,
:class:`Client`, the UI) talks to a node only through the endpoint.  The
leak detectors (:func:`find_suspects`) are pure functions over samples.
"""
from ._client import Client, ProcessList, connect, find_node, live_nodes
from ._endpoint import REGISTERED_NAME, start_control_endpoint, stop_control_endpoint
from ._errors import (AuthError, CookieError, EndpointError, NodeNotFound, ObserverError,
                      ProtocolError, RemoteError)
from ._leaks import (DUPLICATE_MONITORS, LINK_GROWTH, MAILBOX_GROWTH, MEMORY_GROWTH,
                     MONITOR_GROWTH, PROCESS_GROWTH, Sample, Suspect, Thresholds, find_suspects)
from ._paths import cookie_path, read_cookie, runtime_dir
from ._records import (COLUMNS, HistoryPoint, MonitorRow, NodeInfo, ProcessDetail, ProcRow,
                       SocketRow, TreeNode)
from ._slicer import SliceCost

__all__ = [
    "AuthError", "COLUMNS", "Client", "CookieError", "DUPLICATE_MONITORS", "EndpointError",
    "HistoryPoint", "LINK_GROWTH", "MAILBOX_GROWTH", "MEMORY_GROWTH", "MONITOR_GROWTH",
    "MonitorRow", "NodeInfo", "NodeNotFound", "ObserverError", "PROCESS_GROWTH", "ProcRow",
    "ProcessDetail", "ProcessList", "ProtocolError", "REGISTERED_NAME", "RemoteError", "Sample",
    "SliceCost", "SocketRow", "Suspect", "Thresholds", "TreeNode", "connect", "cookie_path",
    "find_node", "find_suspects", "live_nodes", "read_cookie", "runtime_dir",
    "start_control_endpoint", "stop_control_endpoint",
]
