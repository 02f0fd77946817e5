"""Hook events (SPEC 5.13) and their one dispatcher.

    event                    when                                   payload
    after_identity_install   after Role/Identity Install at boot    -
    before_create            on the PRI, just before Snapshot Create -
    after_install            on a SEC, after Snapshot Install       the changed system paths
    after_cycle              on the PRI, after a SyncCycle          ATLAS_HA_CYCLE_OK
    ops_alert                an operation's alert record (ops/      a `Notice`: kind, text,
                             notify.py: start limits, a degraded    details (in-process
                             log, a crash; raid/: a check's         listeners only: no site
                             mismatches)                            program, no Server)

`emit` runs, in this order: the site's hook programs for the event (`[hooks]` of the
settings, for every role, then `[hooks.roles.<ROLE>]`; the changed paths on stdin and in
ATLAS_HA_CHANGED; an after_install program only runs when something changed), then the
in-process listeners installed for it (`plugins.LISTENERS`: the Verifier's SetUp on
before_create and its SEC-side data and reloads on after_install register there, so the
Synchronizer never imports the Verifier). A failing program or listener is reported with an
ALERT line, never fatal to the operation that emitted the event.

`notify(settings, notice)` is the ops_alert event: the operations below the context of a
role (the run wrapper, the start and crash handlers, RAID) know only their settings, so its
listeners (`NoticeListener`, entry points in `atlas_ha.listeners` like the others; the alert
engine of report/ registers one) take the settings and the notice. Nothing installed: the
operation's own record is all there is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atlas_ha import plugins
from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, PluginError
from atlas_ha.settings import HOOK_EVENTS, Settings

EVENTS = HOOK_EVENTS
OPS_ALERT = "ops_alert"
PROGRAM_TIMEOUT = 120.0


@dataclass(frozen=True)
class Event:
    name: str
    role: str
    changed: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Listener:
    """An in-process listener: `run(server, event)` for every event named `event`."""

    event: str
    run: Callable[[Server, Event], None]


@dataclass(frozen=True)
class Notice:
    """An operation's alert: `kind` (start-limit, log-degraded, crash-new, crash-recurring,
    raid-mismatch), what happened, when, and the kind's details (program, signature, ...)."""

    kind: str
    text: str
    time: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticeListener:
    """An in-process listener of the ops_alert event: `run(settings, notice)`."""

    run: Callable[[Settings, Notice], None]
    event: str = OPS_ALERT


def notify(settings: Settings, notice: Notice) -> list[str]:
    """Give `notice` to every installed NoticeListener; what failed, one message each
    (never raised: the operation that noticed goes on, and says so where it can)."""
    failed = []
    try:
        found = [(n, x) for n, x in _installed() if isinstance(x, NoticeListener)]
    except PluginError as exc:
        return [str(exc)]
    for name, listener in found:
        try:
            listener.run(settings, notice)
        except Exception as exc:  # a listener's failure never stops the operation
            failed.append(f"{OPS_ALERT} listener {name} failed: {exc}")
    return failed


def emit(server: Server, event: Event) -> None:
    """Run the event's site programs, then its listeners (see the module doc)."""
    if event.name not in EVENTS:
        raise ValueError(f"unknown hook event {event.name!r}")
    if event.name != "after_install" or event.changed:
        _programs(server, event)
    for name, listener in listeners(event.name):
        try:
            listener.run(server, event)
        except Exception as exc:  # a listener's failure never stops the operation (5.13)
            server.log(f"ALERT {event.name} listener {name} failed: {exc}")


def _programs(server: Server, event: Event) -> None:
    stdin = "".join(p + "\n" for p in event.changed) if event.changed else None
    env = {
        **os.environ,
        "ATLAS_HA_EVENT": event.name,
        "ATLAS_HA_ROLE": event.role,
        "ATLAS_HA_CONFIG": str(server.settings.config_file),
        **({"ATLAS_HA_CHANGED": "\n".join(event.changed)} if event.changed else {}),
        **event.env,
    }
    for argv in server.settings.hooks_for(event.name, event.role):
        try:
            server.runner.run(argv, env=env, input_text=stdin, timeout=PROGRAM_TIMEOUT)
        except AtlasError as exc:
            server.log(f"ALERT hook {event.name} failed: {exc}")


def listeners(event: str) -> list[tuple[str, Listener]]:
    """The installed listeners of `event`, by name; one that cannot load is an error (a
    listener the site installed and that silently did nothing would be worse)."""
    return [(n, x) for n, x in _installed() if isinstance(x, Listener) and x.event == event]


def _installed() -> list[tuple[str, Listener | NoticeListener]]:
    found: list[tuple[str, Listener | NoticeListener]] = []
    for name in plugins.names(plugins.LISTENERS):
        listener = plugins.load(plugins.LISTENERS, name)
        if not isinstance(listener, Listener | NoticeListener):
            raise PluginError(f"{plugins.LISTENERS}: {name!r} is not a hooks.Listener")
        found.append((name, listener))
    return found
