"""Nagios' weighted percent state change (report/alerts/flapping.py)."""

from __future__ import annotations

import pytest

from atlas_ha.report.alerts.flapping import flapping, percent_state_change, weight


def test_weights_rise_from_0_8_to_1_2() -> None:
    assert weight(0) == pytest.approx(0.8)
    assert weight(19) == pytest.approx(1.2)
    assert weight(10) > weight(9)


def test_no_change_is_zero_and_every_change_is_100() -> None:
    assert percent_state_change(["OK"] * 21) == 0.0
    flips = ["OK", "CRITICAL"] * 11
    assert percent_state_change(flips) == pytest.approx(100.0)


def test_recent_changes_weigh_more_than_old_ones() -> None:
    old = ["CRITICAL", *["OK"] * 20]  # the oldest transition changed
    new = [*["OK"] * 20, "CRITICAL"]  # the newest
    assert percent_state_change(old) == pytest.approx(100 * 0.8 / 20)
    assert percent_state_change(new) == pytest.approx(100 * 1.2 / 20)


def test_a_short_history_counts_its_changes_as_the_newest() -> None:
    assert percent_state_change(["OK", "CRITICAL"]) == pytest.approx(100 * 1.2 / 20)


def test_hysteresis_starts_above_high_stops_below_low() -> None:
    assert not flapping(False, 20.0, 5.0, 20.0)
    assert flapping(False, 20.1, 5.0, 20.0)
    assert flapping(True, 5.0, 5.0, 20.0)
    assert not flapping(True, 4.9, 5.0, 20.0)
