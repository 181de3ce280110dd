"""Which adapter an application's PubSub should use, from how it was run."""
from __future__ import annotations

import os
from typing import Any, Optional

from ..core import BadArg
from ._host import HOST_CLUSTER_ENV, HostAdapter
from ._pubsub import LocalAdapter

__all__ = ["default_adapter"]

_REDIS_SCHEMES = ("redis://", "rediss://")


def default_adapter(cluster_url: Optional[str] = None) -> Any:
    """The adapter for this node, in order of preference:

    * a :class:`~beamish.pubsub.RedisAdapter` for a ``redis://`` (or
      ``rediss://``) ``cluster_url``: a cluster across machines;
    * a :class:`~beamish.pubsub.HostAdapter` when ``$BEAMISH_HOST_CLUSTER``
      is set, as it is in the workers of ``beamish run MODULE --workers N``:
      the workers of this machine form one cluster through their master;
    * else a :class:`~beamish.pubsub.LocalAdapter`: a single node.

    Applications call it in ``children(config)``, after the node is named::

        PubSub.child_spec("chat", adapter=default_adapter(config.cluster))

    Raises:
        BadArg: ``cluster_url`` is given but is not a Redis URL.
    """
    if cluster_url:
        if not cluster_url.startswith(_REDIS_SCHEMES):
            raise BadArg(f"cluster URL {cluster_url!r} is not supported: use "
                         f"redis://HOST:PORT[/DB]")
        from ._redis import RedisAdapter
        return RedisAdapter(cluster_url)
    path = os.environ.get(HOST_CLUSTER_ENV)
    if path:
        return HostAdapter(path)
    return LocalAdapter()
