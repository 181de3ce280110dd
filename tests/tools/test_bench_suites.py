"""tools.bench's shared pieces: the line console every benchmark server and
node answers on (a real child process), and the declarative suite helper
(benchmarks that reuse another's setup need only say which)."""
import sys

import pytest

from tools.bench._report import HIGHER, LOWER, Bench, System, suite, suites
from tools.harness import LineProc

pytestmark = pytest.mark.timeout(60)

CONSOLE = [sys.executable, "-u", "-c",
           "from tools.harness.console import out, serve\n"
           "out('up')\n"
           "serve({'add': lambda a, b: f'sum {int(a) + int(b)}', 'quiet': lambda: None})\n"]


def test_the_console_answers_its_commands_rss_and_unknown_ones_in_a_real_child():
    p = LineProc(CONSOLE, "console")
    try:
        p.expect("up", 30)
        assert p.ask("add 2 40", "sum ") == ["42"]
        p.send("")            # blank lines are skipped
        p.send("quiet")       # a command that answers nothing
        assert int(p.ask("rss", "rss ")[0]) > 1 << 20
        assert p.ask("nope 1", "error ") == ["unknown", "command", "'nope'"]
    finally:
        p.stop()


def _one(**params):
    return 1.0


def test_a_bench_taking_a_side_value_inherits_the_source_cases_ref_and_params():
    s = suite("t13-decl", "declared", {"a": System("a", floor=False), "f": System("floor")},
              Bench("main", "main", "s", LOWER, {"a": _one, "f": _one}, ref="f",
                    params={"n": 10}, quick_params={"n": 2}),
              Bench("side", "side", "s", LOWER, target=3.0, from_extra=("main", "x")),
              Bench("solo", "solo", "1/s", HIGHER, {"a": _one}, params={"n": 5}))
    try:
        assert suites()["t13-decl"] is s and s.module == "tools.bench.t13-decl"
        side, solo = s.bench("side"), s.bench("solo")
        assert (side.cases, side.ref, side.params, side.quick_params, side.target) == \
            ({"a": _one, "f": _one}, "f", {"n": 10}, {"n": 2}, 3.0)
        assert (solo.ref, solo.quick_params) == ("a", {"n": 5})   # the only case; quick = full
    finally:
        from tools.bench import _report
        _report._suites.pop("t13-decl", None)


def test_a_suite_with_a_reference_that_is_not_a_case_is_refused():
    with pytest.raises(ValueError):
        suite("t13-bad", "bad", {"a": System("a", floor=False)},
              Bench("b", "b", "s", LOWER, {"a": _one}, ref="missing"))
