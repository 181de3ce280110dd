"""Benchmark suites: how they are declared, and how their results print.

A suite module (``tools/bench/runtime.py`` is the first) declares its
benchmarks as :class:`Bench` records.  Each holds one function per system:
the beamish rows and the floors they are measured against, at the same
parameters.  The module declares and registers them with :func:`suite`
(or builds a :class:`Suite` and passes it to :func:`register`), and ends
with::

    if __name__ == "__main__":
        child_main(SUITE)      # from tools.bench._runner

:mod:`tools.bench._runner` runs the measurements (each in a fresh
interpreter) and hands the raw outputs back here: :func:`summarize` turns
them into rows (median, spread, beamish/floor ratios, targets),
:func:`format_table` prints them for people and :func:`json_line` as the
one ``BENCH_JSON {...}`` line for scripts.

Checks (:class:`Check`) are pass/fail measurements, such as "the runtime is
back to its baseline after 100k processes".  Targets are goals: a missed
one is printed, never an error.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from tools.harness import fmt_value, json_line as _json_line, table

__all__ = ["LOWER", "HIGHER", "Sample", "System", "Bench", "Check", "CheckResult", "Suite",
           "register", "suite", "suites", "summarize", "format_table", "fmt_value", "json_line",
           "JSON_PREFIX"]

LOWER = "lower"    # times and bytes
HIGHER = "higher"  # rates

JSON_PREFIX = "BENCH_JSON "
#: A measurement whose process got less CPU than this share of its wall time
#: was competing with other load; the table says so.
STARVED = 0.85


@dataclass(frozen=True)
class Sample:
    """One measurement: its value, plus side values shown under its row.

    ``extras`` maps a label to ``(value, unit)``; the table prints each one
    with its ratio to ``value`` (e.g. an estimate over what was measured).
    ``waits``: the measurement mostly waits on other OS processes (a
    network round trip), so its CPU share says nothing about other load.
    """
    value: float
    extras: dict = field(default_factory=dict)
    waits: bool = False


@dataclass(frozen=True)
class System:
    """A row kind: ``floor=False`` for the thing under test."""
    label: str
    floor: bool = True


@dataclass(frozen=True)
class Bench:
    """One benchmark.  ``cases`` maps a system key to a function called with
    ``**params`` (or ``**quick_params``, which default to ``params``) that
    returns a float or a Sample.  ``ref`` is the floor every ratio is taken
    against (default: the only case); ``target`` is the goal for the
    non-floor rows (<= for LOWER, >= for HIGHER): for their value, or with
    ``target_ratio`` for their ratio to ``ref`` ("a call within 1.5x of a
    raw ping-pong").

    ``from_extra=(bench, label)``: this benchmark is not run on its own;
    its values are the side value ``label`` of ``bench``'s runs (same
    systems, same child process: two numbers from one expensive setup).
    The runner moves that side value here; :func:`register` fills the
    cases, ``ref`` and parameters left out from ``bench``."""
    key: str
    title: str
    unit: str
    better: str
    cases: Optional[dict] = None
    ref: Optional[str] = None
    params: Optional[dict] = None
    quick_params: Optional[dict] = None
    target: Optional[float] = None
    target_ratio: bool = False
    from_extra: Optional[tuple] = None


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    facts: dict          # JSON-able values, for scripts
    lines: tuple = ()    # what a reader sees


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    fn: Callable[..., CheckResult]
    params: dict
    quick_params: dict


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    module: str          # run as ``python -m module --one BENCH SYSTEM``
    systems: dict        # key -> System
    benches: tuple
    checks: tuple = ()
    #: A suite whose measurements share one expensive setup (a server holding
    #: 100k clients) measures itself: ``measure(quick, runs, only, log)``
    #: returns ``(rows, checks)`` as the runner would; ``benches`` still says
    #: what the rows are.  ``None``: one fresh child process per measurement.
    measure: Optional[Callable] = None

    def bench(self, key: str) -> Bench:
        for b in self.benches:
            if b.key == key:
                return b
        raise KeyError(f"suite {self.name!r} has no benchmark {key!r}")

    def check(self, key: str) -> Check:
        for c in self.checks:
            if c.key == key:
                return c
        raise KeyError(f"suite {self.name!r} has no check {key!r}")


_suites: dict = {}


def _complete(b: Bench, source: Optional[Bench]) -> Bench:
    """``b`` with what it left out taken from ``source`` (its ``from_extra``
    benchmark) or from its own ``cases`` and ``params``."""
    if source is not None:
        b = replace(b, **{k: getattr(source, k) for k in ("cases", "ref", "params", "quick_params")
                          if getattr(b, k) is None})
    params = b.params or {}
    return replace(b, params=params,
                   ref=b.ref if b.ref is not None or len(b.cases) != 1 else next(iter(b.cases)),
                   quick_params=params if b.quick_params is None else b.quick_params)


def register(suite: Suite) -> Suite:
    """Make ``suite`` known to ``python -m tools.bench``; returns it, with
    each benchmark completed (see :class:`Bench`)."""
    done: dict = {}
    for b in suite.benches:
        b = done[b.key] = _complete(b, done[b.from_extra[0]] if b.from_extra else None)
        unknown = set(b.cases) - set(suite.systems)
        if unknown or b.ref not in b.cases or b.better not in (LOWER, HIGHER):
            raise ValueError(f"{suite.name}/{b.key}: bad systems {unknown or b.ref!r} or direction")
        if b.from_extra is not None and set(b.cases) - set(done[b.from_extra[0]].cases):
            raise ValueError(f"{suite.name}/{b.key}: systems not measured by {b.from_extra[0]}")
    suite = replace(suite, benches=tuple(done.values()))
    _suites[suite.name] = suite
    return suite


def suite(name: str, title: str, systems: dict, *benches: Bench, checks: tuple = (),
          module: Optional[str] = None) -> Suite:
    """Declare and register a suite run one measurement per child process:
    ``module`` defaults to ``tools.bench.<name>``."""
    return register(Suite(name=name, title=title, module=module or f"tools.bench.{name}",
                          systems=systems, benches=benches, checks=checks))


def suites() -> dict:
    """Registered suites by name, in registration order."""
    return dict(_suites)


# ------------------------------------------------------------------ rows
def _row(suite: Suite, bench: Bench, system: str, outs: list, quick: bool) -> dict:
    good = [o for o in outs if "error" not in o]
    row: dict = {
        "suite": suite.name, "bench": bench.key, "title": bench.title,
        "params": bench.quick_params if quick else bench.params,
        "system": system, "label": suite.systems[system].label,
        "role": "floor" if suite.systems[system].floor else "subject",
        "unit": bench.unit, "better": bench.better,
    }
    if not good:
        row.update(value=None, runs=[], error=outs[0]["error"] if outs else "not run")
        return row
    values = [o["value"] for o in good]
    shares = [o["cpu_share"] for o in good if o.get("cpu_share") is not None]
    row.update(value=statistics.median(values), runs=values,
               spread=max(values) / min(values) if min(values) > 0 else None,
               cpu_share_min=min(shares) if shares else None)
    extras = {}
    for name in good[0]["extras"]:
        vals = [o["extras"][name][0] for o in good if name in o["extras"]]
        extras[name] = {"value": statistics.median(vals), "unit": good[0]["extras"][name][1]}
    if extras:
        row["extras"] = extras
    if len(good) < len(outs):
        row["error"] = next(o["error"] for o in outs if "error" in o)
    return row


def _add_ratios(bench: Bench, rows: list) -> None:
    """beamish/floor for each subject row, against the reference floor first."""
    floors = {r["system"]: r["value"] for r in rows if r["role"] == "floor"}
    for r in rows:
        if r["role"] != "subject":
            continue
        v = r["value"]
        r["ratios"] = {k: (v / f if v is not None and f else None) for k, f in floors.items()}
        r["floor_system"] = bench.ref
        r["floor"] = floors.get(bench.ref)
        r["ratio"] = r["ratios"].get(bench.ref)
        if bench.target is not None:
            r["target"] = bench.target
            r["target_op"] = "<=" if bench.better == LOWER else ">="
            r["target_on"] = "ratio" if bench.target_ratio else "value"
            x = r["ratio"] if bench.target_ratio else v
            r["target_met"] = None if x is None else (
                x <= bench.target if bench.better == LOWER else x >= bench.target)


def summarize(suite: Suite, bench: Bench, outs: dict, quick: bool) -> list:
    """Rows for ``bench`` from ``outs`` (system key -> list of run outputs,
    each ``{"value", "extras", "cpu_share"}`` or ``{"error"}``)."""
    rows = [_row(suite, bench, s, outs.get(s, []), quick) for s in bench.cases]
    _add_ratios(bench, rows)
    return rows


# -------------------------------------------------------------- printing
def _params_text(params: dict) -> str:
    return " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in params.items())


def format_table(suite: Suite, rows: list, checks: list, quick: bool, runs: int) -> str:
    hdr = ("benchmark", "system", "value", "unit", "ratio", "target", "met", "spread")
    body = []
    for b in suite.benches:
        brows = [r for r in rows if r["bench"] == b.key]
        if not brows:
            continue
        params = b.quick_params if quick else b.params
        titles = [b.title, _params_text(params), f"({b.better} is better)"]
        lines = []
        for r in brows:
            ref = " *" if r["system"] == b.ref else ""
            met = "" if r.get("target_met") is None else ("yes" if r["target_met"] else "NO")
            target = (f"{r['target_op']} {fmt_value(r['target'])}"
                      f"{'x' if r.get('target_on') == 'ratio' else ''}" if "target" in r else "")
            lines.append([r["label"] + ref, fmt_value(r["value"]), b.unit,
                          "" if r.get("ratio") is None else f"{r['ratio']:.2f}",
                          target, met, "" if r.get("spread") is None else f"{r['spread']:.2f}"])
            for name, e in (r.get("extras") or {}).items():
                rel = (e["value"] / r["value"]) if r["value"] else None
                lines.append(["  " + name, fmt_value(e["value"]), e["unit"],
                              "" if rel is None else f"{rel:.2f}x ^", "", "", ""])
            if r.get("error"):
                lines.append(["  error: " + r["error"][:100], "", "", "", "", "", ""])
        for i, cells in enumerate(lines):
            body.append([titles[i] if i < len(titles) else ""] + cells)
        for extra_title in titles[len(lines):]:
            body.append([extra_title] + [""] * 7)
        body.append(None)
    if body and body[-1] is None:
        body.pop()
    out = [f"== {suite.name}: {suite.title} ==",
           f"median of {runs} run{'s' if runs != 1 else ''}, each measurement in a fresh process"
           f"{' (--quick: small N)' if quick else ''}.",
           "ratio = beamish / reference floor (*), or x ^ = side value / the row above; "
           "spread = max/min over runs; a target ending in x is on the ratio."]
    out += table(hdr, body, right={2, 4, 7})
    starved = [f"{r['bench']}/{r['system']}" for r in rows
               if r.get("cpu_share_min") is not None and r["cpu_share_min"] < STARVED]
    if starved:
        out.append("")
        out.append(f"note: {len(starved)} row(s) had a run that got < {STARVED:.0%} of a CPU "
                   f"(other load on the machine; numbers noisier): {', '.join(starved)}")
    for c in checks:
        out.append("")
        out.append(f"check {c['title']}: {'PASS' if c['ok'] else 'FAIL'}")
        out.extend("  " + ln for ln in c["lines"])
    return "\n".join(out)


def json_line(doc: dict) -> str:
    """The one line scripts grep for: ``BENCH_JSON`` and compact JSON."""
    return _json_line(JSON_PREFIX, doc)
