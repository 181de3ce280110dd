"""Running suites: one fresh interpreter per measurement, medians, one
table per suite and one ``BENCH_JSON`` line.

The driver (:func:`run`, behind ``python -m tools.bench``) runs every
(bench, system) pair as ``python -m <suite module> --one BENCH SYSTEM``, so
heap state and RSS never carry over from one measurement to the next.  Runs
are interleaved (run 1 of everything, then run 2, ...) so slow drift of the
machine spreads over all rows instead of landing on one.  The child prints
one ``BENCH_RESULT {...}`` line and leaves with ``os._exit``.

The driver also records how much CPU each child got for its wall time: the
benchmarks are single-threaded, so a share well under 1 means other load on
the machine, and the table says which rows it touched.  A failed check or a
crashed measurement makes the exit status 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from typing import Optional

from tools.harness import ROOT as _ROOT

from ._report import Sample, Suite, fmt_value, format_table, json_line, suites, summarize

__all__ = ["child_main", "run"]

RESULT_PREFIX = "BENCH_RESULT "


# ------------------------------------------------------------ child side
def child_main(suite: Suite, argv: Optional[list] = None) -> None:
    """Entry point of a suite module: one measurement, or the whole suite."""
    ap = argparse.ArgumentParser(prog=f"python -m {suite.module}")
    ap.add_argument("--one", nargs=2, metavar=("BENCH", "SYSTEM"), help="run one measurement")
    ap.add_argument("--check", metavar="CHECK", help="run one check")
    ap.add_argument("--quick", action="store_true")
    args, rest = ap.parse_known_args(argv)
    if args.one is None and args.check is None:
        sys.exit(run([suite.name] + rest + (["--quick"] if args.quick else [])))
    if args.one is not None:
        bench = suite.bench(args.one[0])
        fn = bench.cases[args.one[1]]
        params = bench.quick_params if args.quick else bench.params
        out = fn(**params)
        if not isinstance(out, Sample):
            out = Sample(float(out))
        payload = {"value": out.value, "extras": out.extras}
        if out.waits:
            payload["cpu_share"] = None
    else:
        check = suite.check(args.check)
        res = check.fn(**(check.quick_params if args.quick else check.params))
        payload = {"ok": res.ok, "facts": res.facts, "lines": list(res.lines)}
    sys.stdout.write(RESULT_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()
    # Skip interpreter teardown: unwinding 100k parked greenlets takes
    # seconds and measures nothing.
    os._exit(0)


# ----------------------------------------------------------- driver side
def _spawn_child(suite: Suite, what: list, quick: bool, timeout: float) -> dict:
    cmd = [sys.executable, "-m", suite.module] + what + (["--quick"] if quick else [])
    ru0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        cp = subprocess.run(cmd, cwd=_ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s: {' '.join(cmd[1:])}"}
    ru1, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - t0
    for line in reversed(cp.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            out = json.loads(line[len(RESULT_PREFIX):])
            # The benchmarks are single-threaded: a child that got much less
            # than one CPU for its wall time was competing with other load.
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            out.setdefault("cpu_share", cpu / wall if wall > 0 else None)
            return out
    tail = (cp.stderr or cp.stdout).strip().splitlines()[-6:]
    return {"error": f"exit {cp.returncode}: " + " | ".join(tail)}


def _derive(bench, outs: dict) -> dict:
    """``bench.from_extra``: move the side value ``label`` out of the source
    runs, with the side values labelled ``"label: name"`` as its own."""
    src, label = bench.from_extra
    prefix = label + ": "
    derived: dict = {}
    for s in bench.cases:
        for o in outs[(src, s)]:
            extras = o.get("extras", {})
            if "error" in o or label not in extras:
                derived.setdefault(s, []).append({"error": o.get("error", f"no {label!r} value")})
                continue
            value, _unit = extras.pop(label)
            own = {k[len(prefix):]: extras.pop(k) for k in list(extras) if k.startswith(prefix)}
            derived.setdefault(s, []).append({"value": value, "extras": own,
                                              "cpu_share": o.get("cpu_share")})
    return derived


def _measure(suite: Suite, quick: bool, runs: int, only: Optional[set], log) -> tuple:
    benches = [b for b in suite.benches if not only or b.key in only]
    checks = [c for c in suite.checks if not only or c.key in only]
    sources = {b.from_extra[0] for b in benches if b.from_extra}
    measured = [b for b in suite.benches
                if b.from_extra is None and (b in benches or b.key in sources)]
    jobs = [(b, s) for b in measured for s in b.cases]
    outs: dict = {(b.key, s): [] for b, s in jobs}
    total = len(jobs) * runs + len(checks)
    done = 0
    timeout = 120.0 if quick else 600.0
    for rep in range(runs):
        for b, s in jobs:
            done += 1
            t0 = time.perf_counter()
            out = _spawn_child(suite, ["--one", b.key, s], quick, timeout)
            outs[(b.key, s)].append(out)
            shown = out.get("error") or f"{fmt_value(out['value'])} {b.unit}"
            log(f"[{done}/{total}] {suite.name} {b.key} {s} run {rep + 1}: {shown}"
                f"  ({time.perf_counter() - t0:.1f} s)")
    derived = {b.key: _derive(b, outs) for b in benches if b.from_extra}
    rows = []
    for b in benches:
        got = derived.get(b.key) or {s: outs[(b.key, s)] for s in b.cases}
        rows += summarize(suite, b, got, quick)
    checked = []
    for c in checks:
        done += 1
        out = _spawn_child(suite, ["--check", c.key], quick, timeout)
        res = {"suite": suite.name, "check": c.key, "title": c.title,
               "params": c.quick_params if quick else c.params}
        if "error" in out:
            res.update(ok=False, facts={}, lines=[out["error"]], error=out["error"])
        else:
            res.update(out)
        log(f"[{done}/{total}] {suite.name} check {c.key}: {'PASS' if res['ok'] else 'FAIL'}")
        checked.append(res)
    return rows, checked


# ------------------------------------------------------------------ run
def _env() -> dict:
    def version(dist: str) -> Optional[str]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> Optional[subprocess.CompletedProcess]:
        try:   # read-only; --no-optional-locks keeps git from refreshing the index
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=_ROOT,
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
    head = git("rev-parse", "--short", "HEAD")
    diff = git("diff", "--quiet", "HEAD", "--", "beamish")
    commit = (head.stdout.strip() or None) if head is not None and head.returncode == 0 else None
    if commit and diff is not None and diff.returncode == 1:
        commit += "+dirty"
    # The measured code may be uncommitted: fingerprint it so runs can be matched.
    digest = hashlib.sha1()
    for base, dirs, files in sorted(os.walk(os.path.join(_ROOT, "beamish"))):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".py"):
                with open(os.path.join(base, f), "rb") as fh:
                    digest.update(f.encode() + b"\0" + fh.read())
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "commit": commit,
            "beamish_src_sha1": digest.hexdigest()[:12],
            "gevent": version("gevent"), "greenlet": version("greenlet"),
            "beamish": version("beamish"), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run(argv: Optional[list] = None) -> int:
    """``python -m tools.bench [SUITE ...] [--quick] [--runs N] [--only KEY,...]``;
    returns the exit status."""
    registry = suites()
    ap = argparse.ArgumentParser(prog="python -m tools.bench",
                                 description="beamish benchmarks, each beside its floors")
    ap.add_argument("suites", nargs="*", help=f"suites to run (default: all: {', '.join(registry)})")
    ap.add_argument("--quick", action="store_true", help="small N and one run (CI smoke)")
    ap.add_argument("--runs", type=int, help="runs per measurement (default 3, 1 with --quick)")
    ap.add_argument("--only", help="comma-separated benchmark/check keys to run")
    args = ap.parse_args(argv)
    names = args.suites or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        ap.error(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    runs = args.runs or (1 if args.quick else 3)
    only = set(args.only.split(",")) if args.only else None

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)
    env = _env()
    env["loadavg_start"] = os.getloadavg()
    log(f"# beamish bench: {', '.join(names)}; python {env['python']}, gevent {env['gevent']}, "
        f"greenlet {env['greenlet']}, {env['cpus']} cpus")
    t0 = time.perf_counter()
    all_rows, all_checks, tables = [], [], []
    for name in names:
        suite = registry[name]
        if suite.measure is not None:
            rows, checks = suite.measure(args.quick, runs, only, log)
        else:
            rows, checks = _measure(suite, args.quick, runs, only, log)
        all_rows += rows
        all_checks += checks
        tables.append(format_table(suite, rows, checks, args.quick, runs))
    env["loadavg_end"] = os.getloadavg()
    ok = all(c["ok"] for c in all_checks) and not any(r.get("error") for r in all_rows)
    print("\n\n".join(tables))
    print(f"\n({time.perf_counter() - t0:.0f} s; python {env['python']}, gevent {env['gevent']}, "
          f"greenlet {env['greenlet']}, {env['cpus']} cpus, commit {env['commit']}, "
          f"beamish sources {env['beamish_src_sha1']}; load average "
          f"{env['loadavg_start'][0]:.2f} at start, {env['loadavg_end'][0]:.2f} at end)")
    doc = {"schema": 1, "ok": ok, "quick": args.quick, "runs": runs, "env": env,
           "results": all_rows, "checks": all_checks}
    print(json_line(doc), flush=True)
    return 0 if ok else 1
