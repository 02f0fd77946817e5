"""Delivery through the channels: every attempt recorded, a failed channel retried with
exponential backoff across rounds and itself reported through the other channels.

Per channel (store.ChannelHealth): a notification it could not take is queued for it; while
`next_try` is in the future, new notifications for it are queued too; at the next try the
queue goes out oldest first. After a failure the wait doubles from `rules.retry` up to
`rules.retry_max`. The first failure is reported ("channel failed") through the channels
that work, and the recovery too. Nothing a channel does escapes as an exception: a
ChannelError, or any OSError, is an outcome in the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from atlas_ha import plugins
from atlas_ha.errors import AlertRulesError, ChannelError, PluginError
from atlas_ha.report.alerts.channels.base import Channel
from atlas_ha.report.alerts.model import (
    CHANNEL_FAILED,
    CHANNEL_RECOVERED,
    CRITICAL,
    OK,
    Alert,
    Notification,
)
from atlas_ha.report.alerts.rules import Rules
from atlas_ha.report.alerts.store import AlertState, ChannelHealth

QUEUE = 50  # notifications kept for a failing channel (the oldest are dropped, recorded)
EXTRAS = {"apprise": "apprise"}  # channel type -> the extra that provides it


@dataclass
class Built:
    channels: dict[str, Channel] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # name -> why


def build(rules: Rules, source: Path) -> Built:
    """The rules' channels, each from its plugin; one that cannot load or whose options
    are wrong is disabled with the reason, the others work."""
    built = Built()
    for spec in rules.channels:
        try:
            cls = plugins.load(plugins.ALERT_CHANNELS, spec.type)
            if not (isinstance(cls, type) and issubclass(cls, Channel)):
                raise PluginError(f"{plugins.ALERT_CHANNELS}: {spec.type!r} is not a Channel")
            built.channels[spec.name] = cls(spec.name, spec.options, source)
        except PluginError as exc:
            extra = EXTRAS.get(spec.type)
            hint = f" (install the extra: pip install 'atlas-ha[{extra}]')" if extra else ""
            hint = "" if "atlas-ha[" in str(exc) else hint
            built.disabled[spec.name] = f"channel {spec.name} disabled: {exc}{hint}"
        except AlertRulesError as exc:
            built.disabled[spec.name] = f"channel {spec.name} disabled: {exc}"
    return built


def targets(notification: Notification, names: list[str]) -> list[str]:
    wanted = notification.channels or tuple(names)
    return [n for n in names if n in wanted and n not in notification.exclude]


def deliver(
    built: Built,
    rules: Rules,
    state: AlertState,
    notifications: list[Notification],
    now: datetime,
) -> list[dict[str, Any]]:
    """Send `notifications` (and what is owed to channels whose retry is due); update the
    channels' health in `state`; return the attempts for the record."""
    t = now.timestamp()
    names = sorted(built.channels)
    attempts: list[dict[str, Any]] = []
    for name in list(state.channels):
        if name not in built.channels:
            del state.channels[name]  # no longer configured
    for note in notifications:
        for name in targets(note, names):
            health = state.channels.setdefault(name, ChannelHealth())
            health.queue.append(note.as_dict())
            if len(health.queue) > QUEUE:
                dropped = health.queue.pop(0)
                attempts.append(_attempt(t, name, "dropped", dropped, health.last_error))
    reports: list[Notification] = []
    for name in names:
        owed = state.channels.get(name)
        if owed is None or not owed.queue or owed.next_try > t:
            continue
        health = owed
        channel = built.channels[name]
        while health.queue:
            note_dict = health.queue[0]
            try:
                detail = channel.send(Notification.from_dict(note_dict))
            except (ChannelError, OSError) as exc:  # a channel's failure is an outcome
                health.failures += 1
                health.last_error = str(exc)
                wait = min(rules.retry_max, rules.retry * 2 ** (health.failures - 1))
                health.next_try = t + wait
                attempts.append(_attempt(t, name, "failed", note_dict, str(exc), wait))
                if not health.reported:
                    health.reported = True
                    reports.append(_about(name, CHANNEL_FAILED, CRITICAL, str(exc), now))
                break
            health.queue.pop(0)
            attempts.append(_attempt(t, name, "sent", note_dict, detail))
            if health.failures:
                why = f"delivered again after {health.failures} failed attempt(s)"
                if health.reported:
                    reports.append(_about(name, CHANNEL_RECOVERED, OK, why, now))
                health.failures, health.next_try, health.reported = 0, 0.0, False
                health.last_error = ""
    for report in reports:  # through the other channels only (once; not queued again)
        for name in targets(report, names):
            health = state.channels.setdefault(name, ChannelHealth())
            if health.failures or health.next_try > t:
                continue
            try:
                detail = built.channels[name].send(report)
            except (ChannelError, OSError) as exc:  # recorded; its own retry takes over
                attempts.append(_attempt(t, name, "failed", report.as_dict(), str(exc)))
                continue
            attempts.append(_attempt(t, name, "sent", report.as_dict(), detail))
        if not targets(report, names):
            attempts.append(_attempt(t, "-", "unreported", report.as_dict(), "no other channel"))
    return attempts


def send_test(built: Built, only: str | None, now: datetime, server: str) -> list[dict[str, Any]]:
    """One test notification through every channel (or `only`); the attempts."""
    alert = Alert("test", f"{server}/alerts", server, OK, "a test notification", now)
    note = Notification(server, (alert,))
    attempts = []
    for name in sorted(built.channels):
        if only is not None and name != only:
            continue
        try:
            detail = built.channels[name].send(note)
        except (ChannelError, OSError) as exc:  # the outcome of the test
            attempts.append(_attempt(now.timestamp(), name, "failed", note.as_dict(), str(exc)))
        else:
            attempts.append(_attempt(now.timestamp(), name, "sent", note.as_dict(), detail))
    for name, why in sorted(built.disabled.items()):
        if only is None or name == only:
            attempts.append(_attempt(now.timestamp(), name, "disabled", note.as_dict(), why))
    return attempts


def _about(channel: str, event: str, state: str, why: str, now: datetime) -> Notification:
    alert = Alert(event, f"channel/{channel}", "-", state, why, now)
    return Notification("-", (alert,), exclude=(channel,))


def _attempt(
    t: float,
    channel: str,
    outcome: str,
    note: Mapping[str, Any],
    detail: str,
    retry_in: float | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "at": t,
        "channel": channel,
        "outcome": outcome,
        "title": note.get("title", ""),
        "detail" if outcome == "sent" else "error": detail,
    }
    if retry_in is not None:
        entry["retry_in"] = retry_in
    return entry
