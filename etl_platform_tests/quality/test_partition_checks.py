from etl_platform.quality.partition_checks import conservation, quarantine_rate, volume_anomaly

DAYS = ["2026-11-01", "2026-11-02"]


def test_conservation_fails_the_day_whose_layers_lose_a_row():
    outcome = conservation(
        DAYS,
        read={"2026-11-01": 10, "2026-11-02": 10},
        staged={"2026-11-01": 7, "2026-11-02": 6},
        quarantined={"2026-11-01": 2, "2026-11-02": 2},
        dropped={"2026-11-01": 1, "2026-11-02": 1},
    )
    assert list(outcome.failing) == ["2026-11-02"]
    assert "raw has 10 rows, layers account for 9" in outcome.failing["2026-11-02"]


def test_conservation_passes_when_every_row_is_accounted_for():
    outcome = conservation(DAYS, {"2026-11-01": 3}, {"2026-11-01": 3}, {}, {})
    assert outcome.passed


def test_quarantine_rate_fails_only_the_day_over_the_limit():
    outcome = quarantine_rate(
        DAYS, read={"2026-11-01": 100, "2026-11-02": 100},
        quarantined={"2026-11-01": 5, "2026-11-02": 6}, max_rate=0.05,
    )  # fmt: skip
    assert list(outcome.failing) == ["2026-11-02"]
    assert outcome.metadata["rate_by_partition"] == {"2026-11-01": 0.05, "2026-11-02": 0.06}


def test_an_empty_day_has_no_quarantine_rate_to_fail():
    assert quarantine_rate(DAYS, read={}, quarantined={}, max_rate=0.0).passed


def test_volume_flags_a_day_far_outside_the_robust_band():
    history = [1000, 1010, 990, 1005, 995, 20_000]  # one past spike must not widen the band
    outcome = volume_anomaly(DAYS, {"2026-11-01": 1003, "2026-11-02": 400}, history, k=5.0)
    assert list(outcome.failing) == ["2026-11-02"]
    assert outcome.metadata["median"] == 1002.5


def test_volume_passes_with_too_little_history_and_says_so():
    outcome = volume_anomaly(DAYS, {"2026-11-01": 1}, [1000, 1000], k=5.0)
    assert outcome.passed
    assert outcome.metadata["note"] == "too little history"


def test_a_perfectly_steady_history_still_allows_small_changes():
    outcome = volume_anomaly(DAYS, {"2026-11-01": 1001, "2026-11-02": 1200}, [1000] * 5, k=5.0)
    assert list(outcome.failing) == ["2026-11-02"]
