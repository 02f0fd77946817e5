"""The output of a monitoring-plugins/Nagios plugin: summary, long text, perfdata, ranges.

The plugin contract (Nagios plugin development guidelines, monitoring-plugins' utils_base.c):

    SUMMARY TEXT | PERFDATA
    LONG TEXT LINE 1
    LONG TEXT LINE 2 | PERFDATA LINE 2
    PERFDATA LINE 3

Perfdata is a space-separated list of `'label'=value[UOM];[warn];[crit];[min];[max]`: a label
with spaces is quoted with single quotes (a quote inside is doubled), trailing fields may be
left out, a value of `U` means "could not be determined".

A range `[@][start:]end` alerts when the value is outside start..end (inclusive), or inside
it with `@`; start defaults to 0, `~` is minus infinity, an empty end is plus infinity:
`10` = outside 0..10, `10:` = below 10, `~:5` = above 5, `10:20` = outside 10..20, `@10:20` =
inside 10..20, `:20` = outside 0..20.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
VALUE_RE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|U)([^;\d.+-][^;]*)?$")


class PerfdataError(ValueError):
    """A perfdata item or range that does not follow the plugin contract."""


@dataclass(frozen=True)
class Range:
    start: float  # -inf for `~`
    end: float  # +inf when empty
    inside: bool = False  # `@`: alert inside the range instead of outside

    @classmethod
    def parse(cls, text: str) -> Range:
        body = text.strip()
        inside = body.startswith("@")
        if inside:
            body = body[1:]
        if not body:
            raise PerfdataError(f"range {text!r}: empty")
        if ":" in body:
            start_text, end_text = body.split(":", 1)
            start = -math.inf if start_text == "~" else _number(start_text or "0", text)
        else:
            start, end_text = 0.0, body
        end = math.inf if end_text == "" else _number(end_text, text)
        if start > end:
            raise PerfdataError(f"range {text!r}: start {start:g} is above end {end:g}")
        return cls(start, end, inside)

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def render(self) -> str:
        start = "~" if self.start == -math.inf else _fmt(self.start)
        end = "" if self.end == math.inf else _fmt(self.end)
        prefix = "@" if self.inside else ""
        if start == "0" and end:
            return f"{prefix}{end}"
        return f"{prefix}{start}:{end}"


def _fmt(value: float) -> str:
    """Shortest text that reads back as the same float."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _number(text: str, where: str) -> float:
    if not NUMBER_RE.match(text):
        raise PerfdataError(f"range {where!r}: {text!r} is not a number")
    return float(text)


@dataclass(frozen=True)
class PerfDatum:
    label: str
    value: float | None  # None: `U`, undetermined
    uom: str = ""
    warn: str | None = None  # ranges kept verbatim
    crit: str | None = None
    min: float | None = None
    max: float | None = None

    def judgement(self) -> str | None:
        """unacceptable / slow / ok by the plugin's own crit and warn ranges, if any."""
        if self.value is None or (self.warn is None and self.crit is None):
            return None
        if self.crit is not None and Range.parse(self.crit).alerts(self.value):
            return "unacceptable"
        if self.warn is not None and Range.parse(self.warn).alerts(self.value):
            return "slow"
        return "ok"

    def render(self) -> str:
        label = self.label.replace("'", "''")
        if any(c.isspace() for c in label) or "'" in self.label or "=" in label:
            label = f"'{label}'"
        value = "U" if self.value is None else _fmt(self.value)
        fields = [
            f"{value}{self.uom}",
            self.warn or "",
            self.crit or "",
            "" if self.min is None else _fmt(self.min),
            "" if self.max is None else _fmt(self.max),
        ]
        while len(fields) > 1 and fields[-1] == "":
            fields.pop()
        return f"{label}=" + ";".join(fields)


@dataclass(frozen=True)
class PluginOutput:
    summary: str
    long_text: str
    perfdata: tuple[PerfDatum, ...]
    problems: tuple[str, ...]  # perfdata items that could not be parsed (kept out of perfdata)


def parse_output(text: str) -> PluginOutput:
    """Split a plugin's stdout into summary, long text and perfdata (see the module doc)."""
    lines = text.rstrip("\n").split("\n") if text.strip() else [""]
    summary, _, perf = lines[0].partition("|")
    perf_parts = [perf]
    long_lines: list[str] = []
    rest = lines[1:]
    for index, line in enumerate(rest):
        if "|" in line:
            before, _, after = line.partition("|")
            long_lines.append(before)
            perf_parts.append(after)
            perf_parts.extend(rest[index + 1 :])
            break
        long_lines.append(line)
    data, problems = parse_perfdata(" ".join(perf_parts))
    long_text = "\n".join(long_lines).strip("\n")
    return PluginOutput(summary.strip(), long_text, tuple(data), tuple(problems))


def parse_perfdata(text: str) -> tuple[list[PerfDatum], list[str]]:
    """Every item of a perfdata string; malformed items are returned as problems."""
    data: list[PerfDatum] = []
    problems: list[str] = []
    for token in _tokens(text):
        try:
            data.append(parse_datum(token))
        except PerfdataError as exc:
            problems.append(str(exc))
    return data, problems


def _tokens(text: str) -> list[str]:
    """Split at whitespace outside single-quoted labels."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted  # a doubled quote toggles twice: stays inside
        if char.isspace() and not quoted:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def parse_datum(token: str) -> PerfDatum:
    label, rest = _label(token)
    fields = rest.split(";")
    if len(fields) > 5:
        raise PerfdataError(f"perfdata {token!r}: more than value;warn;crit;min;max")
    fields += [""] * (5 - len(fields))
    match = VALUE_RE.match(fields[0])
    if not match:
        raise PerfdataError(f"perfdata {token!r}: value {fields[0]!r} is not a number[UOM]")
    value = None if match.group(1) == "U" else float(match.group(1))
    for name, spec in (("warn", fields[1]), ("crit", fields[2])):
        if spec:
            try:
                Range.parse(spec)
            except PerfdataError as exc:
                raise PerfdataError(f"perfdata {token!r}: {name} {exc}") from None
    return PerfDatum(
        label=label,
        value=value,
        uom=match.group(2) or "",
        warn=fields[1] or None,
        crit=fields[2] or None,
        min=_bound(fields[3], token),
        max=_bound(fields[4], token),
    )


def _label(token: str) -> tuple[str, str]:
    if token.startswith("'"):
        index, chars = 1, []
        while index < len(token):
            if token[index] == "'":
                if token[index + 1 : index + 2] == "'":
                    chars.append("'")
                    index += 2
                    continue
                break
            chars.append(token[index])
            index += 1
        else:
            raise PerfdataError(f"perfdata {token!r}: the label's quote is not closed")
        rest = token[index + 1 :]
        label = "".join(chars)
        if not rest.startswith("="):
            raise PerfdataError(f"perfdata {token!r}: expected = after the quoted label")
        rest = rest[1:]
    else:
        label, sep, rest = token.partition("=")
        if not sep:
            raise PerfdataError(f"perfdata {token!r}: expected label=value")
    if not label:
        raise PerfdataError(f"perfdata {token!r}: empty label")
    return label, rest


def _bound(text: str, token: str) -> float | None:
    if not text:
        return None
    if not NUMBER_RE.match(text):
        raise PerfdataError(f"perfdata {token!r}: min/max {text!r} is not a number")
    return float(text)
