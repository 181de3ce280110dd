"""The leak detectors, on synthetic samples: exact suspects, no I/O."""
from beamish.observer import ProcRow, Sample, Suspect, Thresholds, find_suspects
from beamish.observer._leaks import duplicate_monitors, growing_tables, process_growth


def row(pid, monitors=0, links=0, mq=0, dup=0, target=None, name=None):
    return ProcRow(pid, name, "m:f", "m:f", "waiting", 0, mq, 1000, links, monitors, 0, dup,
                   target, False)


def series(values, make, count=None, rate=100.0):
    """One sample a second; ``make(value)`` gives that sample's rows."""
    return [Sample.of(float(t), count[t] if count else 10, rate, make(v))
            for t, v in enumerate(values)]


def test_a_persistent_duplicate_monitor_is_flagged_naming_the_process_and_target():
    samples = series([3, 5], lambda n: [row("<0.7.0>", n + 1, dup=n, target="<0.9.0>",
                                            name="naive"), row("<0.8.0>", 2)])
    (s,) = duplicate_monitors(samples)
    assert (s.kind, s.pid, s.name, s.value) == ("duplicate_monitors", "<0.7.0>", "naive", 5.0)
    assert "holds 6 monitors, 5 of them duplicates" in s.reason
    assert "<0.9.0>" in s.reason and "up from 3 1.0 s earlier" in s.reason


def test_a_duplicate_seen_in_only_the_last_sample_of_a_series_is_not_flagged():
    # a call monitors its server while a long-lived monitor exists: brief
    samples = series([0, 0, 1], lambda n: [row("<0.7.0>", n + 1, dup=n, target="<0.9.0>")])
    assert duplicate_monitors(samples) == []


def test_a_single_sample_flags_a_duplicate_at_once():
    (s,) = duplicate_monitors([Sample.of(0, 1, 0, [row("<0.7.0>", 2, dup=1, target="x")])])
    assert s.pid == "<0.7.0>"


def test_steady_monitor_growth_is_flagged_and_noise_is_not():
    grow = series(range(0, 60, 10), lambda n: [row("<0.7.0>", n), row("<0.8.0>", 5)])
    (s,) = growing_tables(grow)
    assert (s.kind, s.pid, s.value) == ("monitor_growth", "<0.7.0>", 50.0)
    assert s.reason == "monitors grew steadily from 0 to 50 over 5 s (6 samples)"
    saw = series([0, 30, 0, 30, 0, 30], lambda n: [row("<0.7.0>", n)])
    assert growing_tables(saw) == []


def test_link_and_mailbox_growth_have_their_own_kinds_and_thresholds():
    links = series([0, 4, 8, 12], lambda n: [row("<0.1.0>", links=n)])
    assert [s.kind for s in growing_tables(links)] == ["link_growth"]
    small_mailbox = series([0, 20, 40, 60], lambda n: [row("<0.1.0>", mq=n)])
    assert growing_tables(small_mailbox) == [], "below the 100-message threshold"
    mailbox = series([0, 200, 400, 600], lambda n: [row("<0.1.0>", mq=n)])
    assert [s.kind for s in growing_tables(mailbox)] == ["mailbox_growth"]


def test_growth_needs_enough_samples():
    assert growing_tables(series([0, 50, 100], lambda n: [row("<0.1.0>", n)])) == []


def test_process_count_growing_under_flat_traffic_is_flagged():
    counts = [1000, 1100, 1200, 1300, 1400, 1500]
    samples = series(range(6), lambda n: [], count=counts, rate=500.0)
    (s,) = process_growth(samples)
    assert (s.kind, s.pid, s.value) == ("process_growth", None, 500.0)
    assert "from 1000 to 1500" in s.reason and "traffic stayed flat" in s.reason


def test_process_count_growing_with_traffic_is_not_flagged():
    counts = [1000, 1100, 1200, 1300, 1400, 1500]
    samples = [Sample(float(t), c, 100.0 * (t + 1)) for t, c in enumerate(counts)]
    assert process_growth(samples) == []


def test_a_stable_process_count_is_not_flagged():
    samples = [Sample(float(t), 1000 + (t % 2) * 30, 50.0) for t in range(10)]
    assert process_growth(samples) == []


def test_find_suspects_ranks_duplicates_first_then_by_size():
    def rows(n):
        return [row("<0.5.0>", 40 + n, dup=n, target="<0.1.0>"),
                row("<0.6.0>", 3 * n + 2, dup=3 * n + 1, target="<0.2.0>")]
    found = find_suspects(series([10, 20, 30, 40], rows))
    assert [(s.kind, s.pid) for s in found] == [
        ("duplicate_monitors", "<0.6.0>"), ("duplicate_monitors", "<0.5.0>"),
        ("monitor_growth", "<0.6.0>"), ("monitor_growth", "<0.5.0>")]


def test_thresholds_are_configurable_and_suspects_round_trip():
    th = Thresholds(min_samples=3, min_growth={"monitors": 2})
    (s,) = growing_tables(series([0, 1, 2], lambda n: [row("<0.1.0>", n)]), th)
    assert Suspect.from_wire(s.to_wire()) == s
    assert s.describe() == "monitor_growth: <0.1.0>: " + s.reason


def test_no_samples_no_suspects():
    assert find_suspects([]) == []


def test_steady_memory_growth_is_flagged_in_mebibytes_and_small_growth_is_not():
    def mem_row(pid, memory, label=None):
        return row(pid)._replace(memory=memory, label=label)
    grow = series(range(0, 6), lambda n: [mem_row("<0.7.0>", 9000 + n * 2**20, "Room"),
                                          mem_row("<0.8.0>", 9000 + n * 1000)])
    (s,) = growing_tables(grow)
    assert (s.kind, s.pid, s.name) == ("memory_growth", "<0.7.0>", "Room")
    assert "memory grew steadily from 0.0 MiB to 5.0 MiB" in s.reason
