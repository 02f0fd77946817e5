"""The alert rules file (TOML; docs/alerts.md): parsed and validated here, nothing else.

The file is part of the synced configuration (verifier/services.py ALERT_RULES_PATH, listed by
the Verifier's SetUp with the services file): every server of the group uses the PRI's rules,
every change is recorded in the history, and the file travels on the Unbound Data in every
snapshot. It is re-read when its mtime or size changes (each round); a malformed file raises
AlertRulesError naming the file, the line and what was expected, and the caller keeps the
last good rules in force. Secrets never go in it: a channel names a file holding its
password (`password_file`), which is not synced.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from atlas_ha.errors import AlertRulesError
from atlas_ha.report.alerts.model import CRITICAL, STATES, UNKNOWN, WARNING

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
TOML_AT_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
SECRET_KEYS = ("password", "secret", "token")

POLICY_KEYS = {
    "states",
    "failures",
    "successes",
    "repeat",
    "send_resolved",
    "flapping",
    "flap_low",
    "flap_high",
    "channels",
}
TOP_KEYS = {"defaults", "rule", "maintenance", "channels", "group_by_server", "inhibit", "retry"}
TOP_KEYS |= {"retry_max"}


def duration(text: str | float | int, where: str = "duration") -> float:
    """Seconds of "90", "90s", "15m", "2h", "1d" (ValueError naming `where` otherwise)."""
    if isinstance(text, bool):
        raise ValueError(f"{where}: a duration like 90s, 15m, 2h or 1d, got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{where}: a duration >= 0, got {text!r}")
        return float(text)
    match = DURATION_RE.match(text)
    if not match:
        raise ValueError(f"{where}: a duration like 90s, 15m, 2h or 1d, got {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


@dataclass(frozen=True)
class Policy:
    """How one subject alerts (Nagios: max_check_attempts, notification_interval, ...)."""

    states: frozenset[str] = frozenset({WARNING, CRITICAL, UNKNOWN})  # which states alert
    failures: int = 3  # consecutive alerting results before the hard state (and the alert)
    successes: int = 1  # consecutive non-alerting results before it is resolved
    repeat: float = 4 * 3600.0  # seconds between re-sends while still failing; 0 = never
    send_resolved: bool = True
    flapping: bool = True  # flap detection on
    flap_low: float = 5.0
    flap_high: float = 20.0
    channels: tuple[str, ...] = ()  # which channels; empty = every channel


@dataclass(frozen=True)
class Override:
    match: str  # a glob over subjects (fnmatch): "acme/SEC1/*"
    policy: Policy


@dataclass(frozen=True)
class Window:
    """A recurring maintenance window (UTC): on `days`, from `start` to `end` minutes of the
    day (an end before the start runs past midnight into the next day)."""

    match: str
    days: frozenset[int]  # 0 = Monday
    start: int
    end: int
    reason: str = "maintenance window"

    def active(self, subject: str, now: datetime) -> bool:
        if not fnmatch.fnmatchcase(subject, self.match):
            return False
        minute = now.hour * 60 + now.minute
        day = now.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    type: str  # the plugin (entry point of atlas_ha.alert_channels)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    default: Policy = Policy()
    overrides: tuple[Override, ...] = ()
    windows: tuple[Window, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    group_by_server: bool = True  # one message per server per round
    inhibit: bool = True  # an unreachable server silences its services' alerts
    retry: float = 60.0  # first retry of a failed channel; doubles up to retry_max
    retry_max: float = 3600.0

    def policy(self, subject: str) -> Policy:
        """The policy of `subject`: the first override whose glob matches, else the default."""
        for override in self.overrides:
            if fnmatch.fnmatchcase(subject, override.match):
                return override.policy
        return self.default

    def window(self, subject: str, now: datetime) -> Window | None:
        return next((w for w in self.windows if w.active(subject, now)), None)


# -- parsing ----------------------------------------------------------------------------------
class _Where:
    """Finds the line of a key in the text, for errors that tomllib does not see."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()

    def line(self, key: str, after: str = "") -> int | None:
        start = 0
        if after:
            found = self._find(lambda s: s.startswith("[") and after in s, 0)
            start = found if found is not None else 0
        hit = self._find(lambda s: re.match(rf"^\"?{re.escape(key)}\"?\s*=", s) is not None, start)
        return None if hit is None else hit + 1

    def _find(self, test: Any, start: int) -> int | None:
        for i in range(start, len(self.lines)):
            if test(self.lines[i].strip()):
                return i
        return None

    def error(self, expected: str, key: str = "", after: str = "") -> AlertRulesError:
        return AlertRulesError(self.path, self.line(key, after) if key else None, expected)


def parse(text: str, path: Path) -> Rules:
    """The rules of `text` (read from `path`); AlertRulesError naming the line otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = TOML_AT_RE.search(str(exc))
        line = int(at.group(1)) if at else None
        if line is None and "end of document" in str(exc):
            line = max(1, len(text.splitlines()))
        message = TOML_AT_RE.sub("", str(exc)).replace("(at end of document)", "").strip()
        raise AlertRulesError(path, line, f"valid TOML ({message})") from exc
    where = _Where(path, text)
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise where.error(f"one of {', '.join(sorted(TOP_KEYS))}, not {unknown[0]!r}", unknown[0])
    default = _policy(_table(data, "defaults", where), Policy(), where, "defaults")
    overrides = []
    for i, raw in enumerate(_tables(data, "rule", where)):
        match = _text(raw, "match", where, "rule", required=True)
        body = {k: v for k, v in raw.items() if k != "match"}
        overrides.append(Override(match, _policy(body, default, where, f"rule #{i + 1}")))
    windows = [_window(raw, where) for raw in _tables(data, "maintenance", where)]
    channels = [_channel(name, raw, where) for name, raw in _table(data, "channels", where).items()]
    try:
        retry = duration(data.get("retry", 60.0), "retry")
        retry_max = duration(data.get("retry_max", 3600.0), "retry_max")
    except ValueError as exc:
        raise where.error(str(exc), "retry") from exc
    return Rules(
        default=default,
        overrides=tuple(overrides),
        windows=tuple(windows),
        channels=tuple(channels),
        group_by_server=_bool(data, "group_by_server", True, where),
        inhibit=_bool(data, "inhibit", True, where),
        retry=max(1.0, retry),
        retry_max=max(retry, retry_max),
    )


def _table(data: dict[str, Any], key: str, where: _Where) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise where.error(f"{key}: a table ([{key}])", key)
    return value


def _tables(data: dict[str, Any], key: str, where: _Where) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise where.error(f"{key}: an array of tables ([[{key}]])", key)
    return value


def _text(
    raw: dict[str, Any], key: str, where: _Where, section: str, required: bool = False
) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise where.error(f"{section}: {key} = a non-empty string", key or section, section)
    return value


def _bool(raw: dict[str, Any], key: str, default: bool, where: _Where, section: str = "") -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise where.error(f"{section or 'top level'}: {key} = true or false", key, section)
    return value


def _policy(raw: dict[str, Any], base: Policy, where: _Where, section: str) -> Policy:
    unknown = sorted(set(raw) - POLICY_KEYS)
    if unknown:
        raise where.error(
            f"{section}: one of {', '.join(sorted(POLICY_KEYS))}, not {unknown[0]!r}",
            unknown[0],
            section,
        )
    changes: dict[str, Any] = {}
    if "states" in raw:
        states = raw["states"]
        if not isinstance(states, list) or not all(s in STATES for s in states):
            raise where.error(f"{section}: states = a list of {', '.join(STATES)}", "states")
        changes["states"] = frozenset(states)
    for key in ("failures", "successes"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise where.error(f"{section}: {key} = an integer >= 1", key, section)
            changes[key] = value
    if "repeat" in raw:
        try:
            changes["repeat"] = duration(raw["repeat"], f"{section}: repeat")
        except ValueError as exc:
            raise where.error(str(exc), "repeat", section) from exc
    for key in ("send_resolved", "flapping"):
        if key in raw:
            changes[key] = _bool(raw, key, True, where, section)
    for key in ("flap_low", "flap_high"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise where.error(f"{section}: {key} = a percentage", key, section)
            if not 0 <= value <= 100:
                raise where.error(f"{section}: {key} = a percentage 0..100", key, section)
            changes[key] = float(value)
    if "channels" in raw:
        channels = raw["channels"]
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise where.error(f"{section}: channels = a list of channel names", "channels")
        changes["channels"] = tuple(channels)
    policy = replace(base, **changes)
    if policy.flap_low > policy.flap_high:
        raise where.error(f"{section}: flap_low <= flap_high", "flap_low", section)
    return policy


def _window(raw: dict[str, Any], where: _Where) -> Window:
    known = {"match", "days", "start", "end", "reason"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise where.error(
            f"maintenance: one of {', '.join(sorted(known))}, not {unknown[0]!r}", unknown[0]
        )
    days = raw.get("days", list(DAYS))
    if not isinstance(days, list) or not all(d in DAYS for d in days):
        raise where.error(f"maintenance: days = a list of {', '.join(DAYS)}", "days")
    minutes = []
    for key in ("start", "end"):
        value = raw.get(key)
        match = TIME_RE.match(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) * 60 + int(match.group(2)) > 24 * 60:
            raise where.error(f'maintenance: {key} = "HH:MM" (UTC)', key or "maintenance")
        minutes.append(int(match.group(1)) * 60 + int(match.group(2)))
    return Window(
        match=_text(raw, "match", where, "maintenance") or "*",
        days=frozenset(DAYS.index(d) for d in days),
        start=minutes[0],
        end=minutes[1],
        reason=_text(raw, "reason", where, "maintenance") or "maintenance window",
    )


def _channel(name: str, raw: Any, where: _Where) -> ChannelSpec:
    if not isinstance(raw, dict):
        raise where.error(f"channels.{name}: a table ([channels.{name}])", name)
    secrets = [k for k in raw if k in SECRET_KEYS]
    if secrets:
        raise where.error(
            f"channels.{name}: no {secrets[0]} in the synced rules file "
            f'(name a file holding it: {secrets[0]}_file = "/etc/atlas-ha/...")',
            secrets[0],
            f"channels.{name}",
        )
    kind = raw.get("type", name)
    if not isinstance(kind, str) or not kind:
        raise where.error(f"channels.{name}: type = a channel plugin name", "type")
    return ChannelSpec(name, kind, {k: v for k, v in raw.items() if k != "type"})


# -- loading, with the last good rules kept -----------------------------------------------------
@dataclass
class RulesSource:
    """The rules file, re-read when it changes; `rules` stays the last good parse."""

    path: Path
    rules: Rules | None = None
    stamp: tuple[int, int] | None = None
    error: AlertRulesError | None = None

    def refresh(self) -> Rules | None:
        """The rules in force: re-parsed when the file changed; on a malformed file the last
        good rules stay and `error` names the problem (until the file is fixed)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self.stamp, self.rules, self.error = None, None, None
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self.stamp:
            return self.rules
        self.stamp = stamp
        try:
            raw = self.path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise AlertRulesError(self.path, line, "UTF-8 text") from exc
            self.rules, self.error = parse(text, self.path), None
        except AlertRulesError as exc:
            self.error = exc
        return self.rules
