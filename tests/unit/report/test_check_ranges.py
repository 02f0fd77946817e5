"""The -w/-c thresholds of `atlas-ha check` (report/check.py): Nagios ranges (the parser of
verifier/kinds/nagios_output.py) applied to a measured value, CRITICAL before WARNING."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.report.check import Options, Result, thresholds
from atlas_ha.verifier.profile import Status

finite = st.floats(-1e6, 1e6, allow_nan=False)
bounds = st.integers(-1000, 1000)


def alerts_by_definition(spec: str, value: float) -> bool:
    """The plugin guidelines' table, written out case by case."""
    inside = spec.startswith("@")
    body = spec.lstrip("@")
    if ":" not in body:
        start, end = 0.0, float(body)
    else:
        s, e = body.split(":")
        start = -math.inf if s == "~" else float(s or 0)
        end = math.inf if e == "" else float(e)
    within = start <= value <= end
    return within if inside else not within


@st.composite
def specs(draw: st.DrawFn) -> str:
    a, b = sorted((draw(bounds), draw(bounds)))
    form = draw(st.sampled_from(["{b}", "{a}:", "~:{b}", "{a}:{b}", "@{a}:{b}", "@~:{b}"]))
    if form == "{b}":
        b = abs(b)
    return form.format(a=a, b=b)


@given(specs(), specs(), finite)
def test_critical_outranks_warning_and_each_range_alerts_as_defined(
    warn: str, crit: str, value: float
) -> None:
    limits = thresholds("verifier", Options(warning=warn, critical=crit))
    got = limits.judge(value)
    if alerts_by_definition(crit, value):
        assert got == Status.CRITICAL
    elif alerts_by_definition(warn, value):
        assert got == Status.WARNING
    else:
        assert got == Status.OK


@pytest.mark.parametrize(
    ("spec", "alerting", "quiet"),
    [
        ("10", [-1, 10.5], [0, 10]),
        ("10:", [9.9], [10, 1e9]),
        ("~:10", [10.1], [-1e9, 10]),
        ("10:20", [9, 21], [10, 20]),
        ("@10:20", [10, 15, 20], [9.9, 20.1]),
    ],
)
def test_the_guideline_examples(spec: str, alerting: list[float], quiet: list[float]) -> None:
    limits = thresholds("verifier", Options(critical=spec))
    assert [limits.judge(v) for v in alerting] == [Status.CRITICAL] * len(alerting)
    assert [limits.judge(v) for v in quiet] == [Status.OK] * len(quiet)


def test_defaults_perfdata_and_bad_ranges() -> None:
    limits = thresholds("cycle-age", Options())
    assert limits.judge(899) == Status.OK and limits.judge(901) == Status.WARNING
    assert limits.judge(1801) == Status.CRITICAL
    assert limits.perf("age", 12.5, "s") == "age=12.5s;900;1800;0"
    with pytest.raises(ValueError, match=r"-w/-c: range '20:10': start 20 is above end 10"):
        thresholds("pri", Options(warning="20:10"))
    line = Result("cycle-age", Status.WARNING, "a | b\nc", ["age=1s"]).line()
    assert line == "ATLAS CYCLE-AGE WARNING - a / b c | age=1s"


def test_a_check_still_running_at_the_timeout_is_unknown() -> None:
    import time

    from atlas_ha.report.check import run

    def hanging_server() -> object:
        time.sleep(5)
        raise AssertionError("not reached in time")

    started = time.monotonic()
    result = run("verifier", hanging_server, Options(timeout=0.3))  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert result.line() == "ATLAS VERIFIER UNKNOWN - no answer within 0.3 s"
