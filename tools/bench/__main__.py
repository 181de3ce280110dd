"""``python -m tools.bench [SUITE ...] [--quick] [--runs N] [--only KEY,...]``

Runs every registered suite (or the ones named) and prints a table per
suite, then one ``BENCH_JSON {...}`` line.  One measurement of a suite:
``python -m tools.bench.<suite> --one BENCH SYSTEM [--quick]``.  A suite registers itself when
its module is imported; add new suite modules to ``SUITE_MODULES``.
"""
import importlib
import sys

from ._runner import run

SUITE_MODULES = ("tools.bench.runtime", "tools.bench.scale", "tools.bench.otp", "tools.bench.pubsub", "tools.bench.presence", "tools.bench.channels", "tools.bench.dist", "tools.bench.room", "tools.bench.longpoll")

for _name in SUITE_MODULES:
    importlib.import_module(_name)

sys.exit(run())
