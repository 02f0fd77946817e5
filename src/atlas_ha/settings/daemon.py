"""[daemon]: change-triggered SyncCycles on the PRI (daemon/watch.py, docs/operating.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.settings.tables import table as _table

DAEMON_KEYS = {"watch", "debounce"}


@dataclass(frozen=True)
class DaemonSettings:
    """[daemon]

    watch = true       # the PRI's daemon starts a SyncCycle when a synced or identity path
                       # changes (inotify); the periodic cycle stays as the safety net
    debounce = 0.5     # seconds without a further change before that cycle starts (a burst
                       # of changes is one cycle; at most 10 x debounce after the first)
    """

    watch: bool = True
    debounce: float = 0.5


def _daemon(raw: object, path: Path) -> DaemonSettings:
    raw = _table(raw, path, "daemon", DAEMON_KEYS)
    watch = raw.get("watch", DaemonSettings.watch)
    if not isinstance(watch, bool):
        raise SettingsError(f"{path}: [daemon] watch = true or false, got {watch!r}")
    debounce = raw.get("debounce", DaemonSettings.debounce)
    if isinstance(debounce, bool) or not isinstance(debounce, int | float):
        raise SettingsError(f"{path}: [daemon] debounce = seconds (0 to 60), got {debounce!r}")
    if not 0 <= debounce <= 60:
        raise SettingsError(f"{path}: [daemon] debounce = seconds (0 to 60), got {debounce!r}")
    return DaemonSettings(watch=watch, debounce=float(debounce))
