"""One alert round, and what the CLI asks of the alert state.

`AlertRounds.after(server, sentence)` is the daemon's call after each turn: it re-reads the
rules file if it changed (keeping the last good rules when it is malformed, and alerting the
error once), observes, runs the engine, delivers, saves, and returns the turn's sentence with
the round's outcome appended. Nothing in a round escapes into the daemon: an error is the
round's outcome in that sentence.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AlertRulesError, AtlasError, NoSuchAlertError
from atlas_ha.layout.atomic import read_text_or_none, write_if_changed
from atlas_ha.report import events
from atlas_ha.report.alerts import store
from atlas_ha.report.alerts.deliver import Built, build, deliver, send_test
from atlas_ha.report.alerts.engine import evaluate
from atlas_ha.report.alerts.model import CRITICAL, OK, RULES, Observation, utc
from atlas_ha.report.alerts.observe import Watermarks, observe
from atlas_ha.report.alerts.rules import Rules, RulesSource, duration, parse
from atlas_ha.report.alerts.state import Ack, Silence
from atlas_ha.verifier.services import alert_rules_file

_evaluating = threading.local()  # set while this thread holds the alert state's lock


@dataclass
class Outcome:
    rules_error: str = ""
    notifications: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        parts = []
        if self.rules_error:
            parts.append(f"rules file malformed ({self.rules_error}), the last good rules kept")
        sent = sum(1 for a in self.attempts if a["outcome"] == "sent")
        failed = [a for a in self.attempts if a["outcome"] == "failed"]
        if self.notifications or self.attempts:
            parts.append(f"{self.notifications} notification(s), {sent} delivered")
        if failed:
            parts.append("failed: " + "; ".join(f"{a['channel']}" for a in failed))
        if self.held:
            parts.append(f"{len(self.held)} held back")
        if self.disabled:
            parts.append(f"{len(self.disabled)} channel(s) disabled")
        return "alerts: " + (", ".join(parts) if parts else "nothing to send")


@dataclass
class AlertRounds:
    """The daemon's alert rounds: holds the rules source between turns."""

    source: RulesSource | None = None

    def after(self, server: Server, sentence: str) -> str:
        try:
            outcome = self.round(server)
        except (AtlasError, OSError) as exc:  # never into the daemon: the turn's outcome
            return f"{sentence}; alerts: round failed: {exc}"
        return f"{sentence}; {outcome.sentence()}"

    def rules(self, server: Server) -> tuple[Rules, Path, str]:
        """The rules in force, their file, and the rules file's error ("" = none)."""
        path = alert_rules_file(server.settings.system_root)
        if self.source is None or self.source.path != path:
            self.source = RulesSource(path)
        before = self.source.stamp
        rules = self.source.refresh()
        good = server.sid.alert_rules_good_file
        if rules is not None and self.source.error is None and self.source.stamp != before:
            server.sid.alerts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_if_changed(good, path.read_bytes())  # survives a restart
        if rules is None and self.source.error is not None:
            text = read_text_or_none(good)
            if text is not None:
                try:
                    rules = self.source.rules = parse(text, good)
                except AlertRulesError:
                    rules = None
        error = str(self.source.error) if self.source.error is not None else ""
        return rules or Rules(), path, error

    def round(self, server: Server) -> Outcome:
        """One round: the status model's observations since the last round."""
        return self._run(server, None)

    def push(self, server: Server, observations: list[Observation]) -> Outcome:
        """`observations` now, outside the rounds (an operation's alert: notices.py); the
        marks of the rounds are left as they are. Raised from inside an evaluation of this
        thread (a log degraded while a round delivers): nothing, never a self-deadlock on
        the state's lock (the operation's own record stays)."""
        if getattr(_evaluating, "active", False):
            return Outcome()
        return self._run(server, observations)

    def _run(self, server: Server, pushed: list[Observation] | None) -> Outcome:
        now = utc(server.clock.now())
        rules, path, error = self.rules(server)
        outcome = Outcome(rules_error=error)
        with store.locked(server.sid):
            _evaluating.active = True
            try:
                _evaluate(server, pushed, rules, path, outcome, now)
            finally:
                _evaluating.active = False
        store.record(server.sid, outcome.attempts)
        _to_event_log(server, outcome.attempts)
        return outcome


def _evaluate(
    server: Server,
    pushed: list[Observation] | None,
    rules: Rules,
    path: Path,
    outcome: Outcome,
    now: datetime,
) -> None:
    """Observe (or take `pushed`), evaluate, deliver, save: under the alert state's lock."""
    sid, error = server.sid, outcome.rules_error
    state = store.load(sid)
    if pushed is None:
        marks = Watermarks.from_marks(state.marks)
        observations = observe(server, marks, now)
        state.marks = marks.as_marks()
    else:
        observations = list(pushed)
    if error:  # every evaluation sees it (else its once-mark would be forgotten)
        signature = hashlib.sha256(error.encode()).hexdigest()[:16]
        role = server.role()
        group = server.master().group
        observations.append(
            Observation(f"{group}/{role}/alert-rules", role, CRITICAL, error, now, RULES, signature)
        )
    state.rules_error = error
    state.engine, notes = evaluate(rules, state.engine, observations, now)
    built = build(rules, path)
    outcome.notifications = len(notes)
    outcome.attempts = deliver(built, rules, state, notes, now)
    outcome.disabled = sorted(built.disabled.values())
    outcome.held = sorted(k for k, v in state.engine.subjects.items() if v.held)
    store.save(sid, state)


def _to_event_log(server: Server, attempts: list[dict[str, Any]]) -> None:
    """Every delivery attempt also goes to the event log (report/events.py), beside the
    state changes it was about: channel, outcome, the alert's title and the error."""
    if not attempts:
        return
    role = server.role()
    for a in attempts:
        extra = {k: a[k] for k in ("title", "error", "retry_in") if k in a}
        events.alert(server.sid, role, a["at"], a["channel"], a["outcome"], **extra)


# -- the CLI's library functions ---------------------------------------------------------------
def test_channels(server: Server, only: str | None = None) -> list[dict[str, Any]]:
    """Send a test notification through every channel (or `only`); the attempts, recorded."""
    rounds = AlertRounds()
    rules, path, error = rounds.rules(server)
    if error:
        raise AlertRulesError(path, None, f"fix the rules first: {error}")
    built: Built = build(rules, path)
    known = set(built.channels) | set(built.disabled)
    if only is not None and only not in known:
        raise AlertRulesError(
            path, None, f"a channel named {only!r} (channels: {', '.join(sorted(known)) or 'none'})"
        )
    attempts = send_test(built, only, utc(server.clock.now()), server.name)
    store.record(server.sid, attempts)
    return attempts


def listing(server: Server, last: int = 10) -> dict[str, Any]:
    """Active, held (silenced, in a window, inhibited, flapping) and flapping subjects, the
    silences, the channels' health and the last deliveries."""
    sid = server.sid
    state = store.load(sid)
    subjects = state.engine.subjects
    return {
        "active": {k: v.hard for k, v in sorted(subjects.items()) if v.hard != "OK"},
        "acknowledged": {k: a.__dict__ for k, a in sorted(state.engine.acks.items())},
        "held": {k: v.held for k, v in sorted(subjects.items()) if v.held},
        "flapping": {k: round(v.percent, 1) for k, v in sorted(subjects.items()) if v.flapping},
        "silences": [s.__dict__ for s in state.engine.silences if s.until > server.clock.now()],
        "channels": {
            k: {
                "failures": v.failures,
                "next_try": v.next_try,
                "last_error": v.last_error,
                "queued": len(v.queue),
            }
            for k, v in sorted(state.channels.items())
        },
        "rules_error": state.rules_error,
        "deliveries": store.deliveries(sid)[-last:],
    }


def _who(server: Server) -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or server.name


def silence(server: Server, match: str, for_: str, reason: str, by: str | None = None) -> Silence:
    """Silence subjects matching the glob `match` for `for_` ("2h"); recorded in the state.
    `by`: who (the page's operator; else the user running the command)."""
    try:
        seconds = duration(for_, "--for")
    except ValueError as exc:
        raise AlertRulesError("--for", None, str(exc)) from exc
    if not match.strip():
        raise AlertRulesError("--match", None, "a glob over subjects, e.g. acme/SEC1/*")
    now = server.clock.now()
    by = by or _who(server)
    entry = Silence(match=match, until=now + seconds, reason=reason, by=by, created=now)
    with store.locked(server.sid):
        state = store.load(server.sid)
        state.engine.silences.append(entry)
        store.save(server.sid, state)
    return entry


def acknowledge(server: Server, subject: str, reason: str, by: str | None = None) -> Ack:
    """Acknowledge the active alert of `subject`: its repeats are held until its state
    changes. NoSuchAlertError when nothing of that subject is announced and still failing."""
    with store.locked(server.sid):
        state = store.load(server.sid)
        sub = state.engine.subjects.get(subject)
        if sub is None or sub.hard == OK or sub.sent != sub.hard:
            active = [k for k, v in sorted(state.engine.subjects.items()) if v.hard != OK]
            raise NoSuchAlertError(
                f"no active alert of {subject!r} (active: {', '.join(active) or 'none'})"
            )
        ack = Ack(sub.hard, reason or "acknowledged", by or _who(server), server.clock.now())
        state.engine.acks[subject] = ack
        store.save(server.sid, state)
    return ack


def unsilence(server: Server, match: str) -> int:
    """Remove the silences whose glob is exactly `match`; how many were removed."""
    with store.locked(server.sid):
        state = store.load(server.sid)
        before = len(state.engine.silences)
        state.engine.silences = [s for s in state.engine.silences if s.match != match]
        store.save(server.sid, state)
    return before - len(state.engine.silences)
