"""The errors of distribution."""
from __future__ import annotations

from ..core import BeamishError

__all__ = ["DistError", "NotDistributed"]


class DistError(BeamishError):
    """Distribution cannot start or run as configured (a second instance in
    one node, a PubSub whose node name is not this node's, no secret)."""


class NotDistributed(DistError):
    """A cluster-wide operation (``register_name``, ``join``...) was asked
    of a node that has not started :class:`~beamish.dist.Dist`."""
