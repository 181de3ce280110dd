"""Receive patterns, and the tag index that keeps selective receive cheap.

A pattern is one of:

* a **value**, compared with ``==``; tuples compare element-wise, and the
  wildcard :data:`ANY` equals anything, so ``("reply", ref, ANY)`` matches
  any 3-tuple whose first two elements are ``"reply"`` and ``ref``.  Value
  patterns are matched by ``deque.index``: the scan runs in C, with no
  Python frame per queued message.
* a **type**: matches instances of it (``receive(str)``).
* a **callable**: a predicate, ``receive(lambda m: m[0] == "job")``; a
  function using a ``match`` statement works too.

The wildcard works through Python's reflected equality: ``x == ANY`` first
asks ``type(x).__eq__``, which returns ``NotImplemented`` for foreign types
(all builtins, dataclasses and beamish's records do), and then ``ANY``
answers True.  A class whose ``__eq__`` answers False to strangers cannot be
wildcarded; match it with a predicate.

Tag index.  Most selective receives name a message by its first element
(``("DOWN", ref, ...)``, a call's unique ``ref``, ``("target", k)``).  The
mailbox keeps, lazily, a count of first elements ("tags") over a prefix of
the queue that some earlier tag-pattern receive already scanned.  A new
receive whose tag does not occur in that prefix starts its scan after it:
messages that were already passed over are not looked at again, across
receives as well as across wake-ups of one receive.  The index costs
nothing until a tag pattern is used, and each message is tagged at most
once.
"""
from __future__ import annotations

from typing import Any, Callable

from ._ids import Pid, Ref

__all__ = ["ANY", "compile_patterns"]


class _Any:
    """The wildcard: equal to every value."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self):
        return "ANY"


ANY = _Any()

# Tags of messages that are not tuples, empty tuples, or tuples whose first
# element cannot be hashed.  A tag pattern can skip a scanned prefix only if
# the prefix holds none of its tag and no unhashable tag.
NOTUPLE = object()
UNHASHABLE = object()
NOTAG = object()

_ATOMIC_TAG_TYPES = frozenset({str, int, float, bytes, bool, Ref, Pid, type(None)})


def message_tag(m: Any) -> Any:
    """The index key of a queued message (its first element, if any)."""
    if isinstance(m, tuple) and m:
        t = m[0]
        try:
            hash(t)
        except TypeError:
            return UNHASHABLE
        return t
    return NOTUPLE


def pattern_tag(pattern: Any) -> Any:
    """The tag a value pattern requires, or NOTAG if it cannot be indexed."""
    if pattern.__class__ is tuple and pattern:
        first = pattern[0]
        if first.__class__ in _ATOMIC_TAG_TYPES:
            return first
    return NOTAG


# A compiled matcher is (value, tag, predicate): predicate is None for value
# patterns.
Matcher = tuple


def _isinstance_of(cls: type) -> Callable[[Any], bool]:
    def is_instance(m: Any) -> bool:
        return isinstance(m, cls)
    is_instance.__qualname__ = f"isinstance_of_{cls.__name__}"
    return is_instance


def compile_patterns(patterns: tuple) -> list:
    """Turn receive's positional patterns into matchers."""
    out = []
    for pat in patterns:
        if isinstance(pat, type):
            out.append((None, NOTAG, _isinstance_of(pat)))
        elif callable(pat) and not isinstance(pat, (tuple, Pid, Ref, _Any)):
            out.append((None, NOTAG, pat))
        else:
            out.append((pat, pattern_tag(pat), None))
    return out
