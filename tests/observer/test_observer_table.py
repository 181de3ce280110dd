"""The process table's pure views: sort, filter, window."""
import pytest

from beamish.observer import ProcRow
from beamish.observer._table import filter_rows, sort_rows, window


def row(pid, reds=0, name=None, call="app:worker", dup=0, memory=100):
    return ProcRow(pid, name, call, call, "waiting", reds, 0, memory, 0, 0, 0, dup, None, False)


ROWS = [row("<0.9.0>", 5, "b"), row("<0.10.0>", 50), row("<0.100.0>", 1, "a", "web:handler", 2)]


def test_numbers_sort_largest_first_text_smallest_first_missing_last():
    assert [r.pid for r in sort_rows(ROWS, "reductions")] == ["<0.10.0>", "<0.9.0>", "<0.100.0>"]
    assert [r.name for r in sort_rows(ROWS, "name")] == ["a", "b", None]
    assert [r.name for r in sort_rows(ROWS, "name", descending=True)] == ["b", "a", None]


def test_pids_sort_by_number():
    assert [r.pid for r in sort_rows(ROWS, "pid")] == ["<0.9.0>", "<0.10.0>", "<0.100.0>"]


def test_filter_matches_all_words_and_dup_keeps_duplicate_monitors():
    assert [r.pid for r in filter_rows(ROWS, "WEB")] == ["<0.100.0>"]
    assert [r.pid for r in filter_rows(ROWS, "app worker")] == ["<0.9.0>", "<0.10.0>"]
    assert [r.pid for r in filter_rows(ROWS, "dup")] == ["<0.100.0>"]
    assert filter_rows(ROWS, "  ") == ROWS


def test_window_ranks_by_growth_and_new_processes_count_from_zero():
    before = {"<0.9.0>": row("<0.9.0>", 1), "<0.10.0>": row("<0.10.0>", 49)}
    ranked = window(before, ROWS, "reductions")
    assert [(r.pid, g) for r, g in ranked] == [("<0.9.0>", 4), ("<0.10.0>", 1),
                                              ("<0.100.0>", 1)]
    with pytest.raises(ValueError):
        window(before, ROWS, "name")


def test_the_package_exports_exactly_its_public_api():
    import beamish.observer as obs
    assert sorted(obs.__all__) == sorted(set(obs.__all__))
    for name in obs.__all__:
        assert getattr(obs, name) is not None, name
    assert not [n for n in obs.__all__ if n.startswith("_")]
