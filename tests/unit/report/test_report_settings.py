"""`[report]` of the settings (settings.py): defaults, values, and errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_ha.errors import SettingsError
from atlas_ha.settings import ReportSettings, load

BASE = 'name = "A"\nesd_data = "esd"\nsid_data = "sid"\n'


def settings_file(tmp_path: Path, report: str) -> Path:
    path = tmp_path / "atlas-ha.toml"
    path.write_text(BASE + report)
    return path


def test_defaults_and_values(tmp_path: Path) -> None:
    assert load(settings_file(tmp_path, "")).report == ReportSettings()
    got = load(settings_file(tmp_path, "[report]\ncycle_stale = 600\nevents_keep_days = 7.5\n"))
    assert got.report.cycle_stale == 600.0 and got.report.events_keep_days == 7.5
    assert got.report.results_stale == ReportSettings.results_stale


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cycle_stale = -1", r"\[report\] cycle_stale = a positive number of seconds, got -1"),
        ('results_stale = "5"', r"\[report\] results_stale = a positive number of seconds"),
        ("events_keep_days = 0", r"\[report\] events_keep_days = a positive number of days"),
        ("heartbeat_stale = true", r"\[report\] heartbeat_stale = a positive number"),
        ("stale = 5", r"\[report\] unknown keys \['stale'\]"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = settings_file(tmp_path, f"[report]\n{text}\n")
    with pytest.raises(SettingsError, match=message) as caught:
        load(path)
    assert str(caught.value).startswith(str(path))
