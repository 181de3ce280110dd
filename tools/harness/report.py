"""Numbers for people and for scripts: percentiles, values, tables, JSON lines."""
from __future__ import annotations

import json
import math
from typing import Iterable, List, Optional, Sequence

__all__ = ["percentiles", "fmt_value", "table", "json_line"]


def percentiles(xs: Iterable[float], qs: Sequence[float] = (0.5, 0.99)) -> dict:
    """Nearest-rank percentiles (``p50``, ``p99``...), ``max`` and the count
    ``n``; every value is ``None`` when ``xs`` is empty."""
    s = sorted(xs)
    n = len(s)
    out: dict = {"n": n}
    for q in qs:
        out[f"p{int(round(q * 100))}"] = s[max(0, min(n - 1, math.ceil(q * n) - 1))] if n else None
    out["max"] = s[-1] if n else None
    return out


def fmt_value(v: Optional[float]) -> str:
    """3 significant digits, thousands separators past 1,000; ``-`` for None."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(header: Sequence[str], rows: List[Optional[Sequence[str]]], right=()) -> List[str]:
    """Aligned text lines: the header, a rule, then ``rows`` (``None`` is a
    blank line); columns whose index is in ``right`` are right-aligned."""
    cells = [list(header)] + [r for r in rows if r is not None]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                         for i, c in enumerate(r)).rstrip()
    return [line(header), line(["-" * w for w in widths])] + \
        ["" if r is None else line(r) for r in rows]


def json_line(prefix: str, doc: dict) -> str:
    """One line scripts grep for: ``prefix`` and compact JSON."""
    return prefix + json.dumps(doc, separators=(",", ":"), default=str)
