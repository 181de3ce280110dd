"""beamish: Erlang's process model and Phoenix's realtime stack, on gevent.

The public API is re-exported here; everything in underscore modules is
private.  beamish never monkey-patches on import: ``beamish run`` patches
first thing, and programs that do their own I/O should call
``gevent.monkey.patch_all()`` before importing anything else.
"""
import logging as _logging

from .core import *  # noqa: F401,F403  (the names are listed in core.__all__)
from .core import __all__ as _core_all
from .otp import *  # noqa: F401,F403
from .otp import __all__ as _otp_all
from gevent import sleep

__version__ = "0.1.0"

__all__ = list(_core_all) + list(_otp_all) + ["sleep", "__version__"]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
