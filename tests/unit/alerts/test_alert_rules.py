"""The alert rules file (report/alerts/rules.py): parsed, errors naming file and line, the last
good rules kept in force while the file is malformed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas_ha.errors import AlertRulesError
from atlas_ha.report.alerts.rules import Policy, RulesSource, duration, parse

GOOD = """
group_by_server = true
retry = "2m"

[defaults]
states = ["CRITICAL", "UNKNOWN"]
failures = 2
repeat = "1h"

[[rule]]
match = "acme/SEC1/*"
failures = 5
send_resolved = false

[[maintenance]]
match = "acme/SEC2/*"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "02:00"
end = "03:00"
reason = "nightly backup"

[channels.mail]
type = "email"
host = "127.0.0.1"
to = ["ops@example.com"]
"""


def test_a_good_file_parses_with_overrides_windows_and_channels(tmp_path: Path) -> None:
    rules = parse(GOOD, tmp_path / "alerts.toml")
    assert rules.default.failures == 2 and rules.default.repeat == 3600.0
    assert rules.policy("acme/SEC1/web").failures == 5
    assert rules.policy("acme/SEC1/web").repeat == 3600.0  # inherited from [defaults]
    assert rules.policy("acme/PRI/web") == rules.default
    assert rules.windows[0].days == frozenset(range(5)) and rules.windows[0].start == 120
    assert rules.channels[0].type == "email" and rules.retry == 120.0
    assert parse("", tmp_path / "a.toml").default == Policy()


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("[defaults]\nfailures = 3\nstates = [\n", 3, "valid TOML"),
        ("[defaults]\nfailures = = 3\nrepeat = 1\n", 2, "valid TOML (Invalid value"),
        ("[defaults]\nfailures = 0\n", 2, "failures = an integer >= 1"),
        ('[defaults]\nrepeat = "soon"\n', 2, "a duration like"),
        ("[defaults]\nfailurs = 3\n", 2, "not 'failurs'"),
        ('[defaults]\nstates = ["BAD"]\n', 2, "states = a list of"),
        ('[[maintenance]]\nstart = "2:00"\nend = "03:00"\n', 2, 'start = "HH:MM"'),
        ('[channels.mail]\nhost = "x"\npassword = "hunter2"\n', 3, "no password in the synced"),
        ("[defaults]\nflap_low = 30\nflap_high = 20\n", 2, "flap_low <= flap_high"),
        ("colour = 1\n", 1, "not 'colour'"),
    ],
)
def test_a_malformed_file_names_file_line_and_what_was_expected(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = tmp_path / "alerts.toml"
    with pytest.raises(AlertRulesError) as caught:
        parse(text, path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_durations() -> None:
    assert [duration(x) for x in ("90", "90s", "15m", "2h", "1d", 30)] == [
        90,
        90,
        900,
        7200,
        86400,
        30,
    ]
    with pytest.raises(ValueError, match="a duration"):
        duration("2 hours")


def test_reloaded_when_changed_and_the_last_good_rules_stay_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text("[defaults]\nfailures = 2\n")
    source = RulesSource(path)
    assert source.refresh().default.failures == 2  # type: ignore[union-attr]
    path.write_text("[defaults]\nfailures = 4\n")
    os.utime(path, ns=(1, 1))  # a new mtime whatever the clock's resolution
    assert source.refresh().default.failures == 4  # type: ignore[union-attr]
    path.write_text("[defaults]\nfailures = \n")
    os.utime(path, ns=(2, 2))
    kept = source.refresh()
    assert kept is not None and kept.default.failures == 4
    assert source.error is not None and source.error.line == 2
    path.write_text("[defaults]\nfailures = 1\n")
    os.utime(path, ns=(3, 3))
    assert source.refresh().default.failures == 1  # type: ignore[union-attr]
    assert source.error is None


def test_a_non_utf8_rules_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_bytes(b"[defaults]\n# caf\xe9\n")
    source = RulesSource(path)
    assert source.refresh() is None
    assert source.error is not None and source.error.line == 2
