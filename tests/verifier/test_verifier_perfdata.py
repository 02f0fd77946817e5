"""The Nagios plugin output parser: perfdata, quoted labels, multi-line output, ranges."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from atlas_ha.verifier.kinds.nagios_output import (
    PerfdataError,
    PerfDatum,
    Range,
    parse_datum,
    parse_output,
    parse_perfdata,
)

# -- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "alerting", "quiet"),
    [
        ("10", [-1, 10.5, 11], [0, 5, 10]),
        ("10:", [9.99, -5], [10, 11, 1e9]),
        (":20", [-0.1, 21], [0, 20]),
        ("~:5", [5.01, 100], [-1e9, 0, 5]),
        ("10:20", [9, 21], [10, 15, 20]),
        ("@10:20", [10, 15, 20], [9.9, 20.1]),
        ("@5", [0, 5], [-1, 6]),
        ("@~:0", [-3, 0], [0.1]),
        ("-5:-1", [0, -6], [-5, -1, -3]),
    ],
)
def test_range_semantics(spec: str, alerting: list[float], quiet: list[float]) -> None:
    r = Range.parse(spec)
    assert [v for v in alerting if not r.alerts(v)] == []
    assert [v for v in quiet if r.alerts(v)] == []


@pytest.mark.parametrize("spec", ["", "@", "20:10", "abc", "1:x", "~", "1e", "::"])
def test_bad_ranges_are_errors(spec: str) -> None:
    with pytest.raises(PerfdataError, match="range"):
        Range.parse(spec)


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    start = draw(st.one_of(st.just(-math.inf), finite))
    end = draw(st.one_of(st.just(math.inf), finite))
    if start > end:
        start, end = end, start
    return Range(start, end, draw(st.booleans()))


@given(ranges(), finite)
def test_range_render_parse_round_trip_and_alert_rule(r: Range, value: float) -> None:
    again = Range.parse(r.render())
    assert again == r
    within = r.start <= value <= r.end
    assert again.alerts(value) == (within if r.inside else not within)
    # `@` inverts the decision for every value
    assert Range(r.start, r.end, not r.inside).alerts(value) != r.alerts(value)


@given(st.text(max_size=12))
def test_range_parse_is_total_and_stable(text: str) -> None:
    try:
        r = Range.parse(text)
    except PerfdataError as exc:
        assert repr(text) in str(exc)
    else:
        assert r.start <= r.end
        assert Range.parse(r.render()) == r


# -- perfdata ------------------------------------------------------------------------------


def test_perfdata_of_real_plugins() -> None:
    data, problems = parse_perfdata(
        "time=0.000123s;;;0.000000;10.000000 size=612B;;;0 "
        "'/ free'=1234MB;500;100;0;20000 'it''s'=5%;10:;@0:2 users=U;;"
    )
    assert problems == []
    assert data[0] == PerfDatum("time", 0.000123, "s", None, None, 0.0, 10.0)
    assert data[1] == PerfDatum("size", 612.0, "B", min=0.0)
    assert data[2] == PerfDatum("/ free", 1234.0, "MB", "500", "100", 0.0, 20000.0)
    assert data[3].label == "it's" and data[3].warn == "10:" and data[3].crit == "@0:2"
    assert data[4] == PerfDatum("users", None)
    assert data[3].judgement() == "slow"  # 5 < 10 (warn 10:), not in 0..2 (crit @0:2)


def test_malformed_items_are_problems_and_the_rest_parses() -> None:
    data, problems = parse_perfdata("good=1 =2 bad=x 'open=3 ")
    assert [d.label for d in data] == ["good"]
    assert [p.split(":")[1].strip() for p in problems] == [
        "empty label",
        "value 'x' is not a number[UOM]",
        "the label's quote is not closed",
    ]


def test_multi_line_output() -> None:
    text = (
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414\n"
        "'/var log'=818MB;970;975;0;980\n"
    )
    out = parse_output(text)
    assert out.summary == "DISK OK - free space: / 3326 MB (56%);"
    assert out.long_text == "/ 15272 MB (77%);\n/boot 68 MB (69%); "
    assert [d.label for d in out.perfdata] == ["/", "/boot", "/home", "/var log"]
    assert out.perfdata[3].value == 818 and out.perfdata[3].max == 980


def test_output_without_perfdata_or_text() -> None:
    assert parse_output("").summary == ""
    out = parse_output("OK\nline two\n")
    assert (out.summary, out.long_text, out.perfdata) == ("OK", "line two", ())


labels = st.text(
    alphabet=st.characters(blacklist_characters="|;\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=15,
).filter(lambda s: s.strip() == s and "\n" not in s)
uoms = st.sampled_from(["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"])
range_specs = st.one_of(st.none(), ranges().map(Range.render))
bounds = st.one_of(st.none(), finite)


@st.composite
def data(draw: st.DrawFn) -> PerfDatum:
    return PerfDatum(
        label=draw(labels),
        value=draw(st.one_of(st.none(), finite)),
        uom=draw(uoms),
        warn=draw(range_specs),
        crit=draw(range_specs),
        min=draw(bounds),
        max=draw(bounds),
    )


@given(st.lists(data(), max_size=5), st.sampled_from([" ", "  ", "\n"]))
@example([PerfDatum("a b", 1.0), PerfDatum("it's", 2.0, "%", "~:5")], " ")
def test_perfdata_render_parse_round_trip(items: list[PerfDatum], sep: str) -> None:
    text = sep.join(d.render() for d in items)
    parsed, problems = parse_perfdata(text)
    assert problems == []
    assert parsed == items


@given(st.text(max_size=40))
def test_perfdata_parser_total(text: str) -> None:
    parsed, problems = parse_perfdata(text)
    assert all(isinstance(p, str) for p in problems)
    for item in parsed:
        assert item == parse_datum(item.render())


@given(st.lists(data(), min_size=1, max_size=3), st.text(alphabet="abc XYZ:-", max_size=30))
def test_output_summary_and_perfdata(items: list[PerfDatum], summary: str) -> None:
    out = parse_output(f"{summary} | {' '.join(d.render() for d in items)}\nmore text\n")
    assert out.summary == summary.strip()
    assert list(out.perfdata) == items
    assert out.long_text == "more text"
