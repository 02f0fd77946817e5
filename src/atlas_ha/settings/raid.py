"""[raid]: the md arrays of the third-disk rotation (raid/, docs/backup.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.settings.tables import table as _table


@dataclass(frozen=True)
class RaidSettings:
    """[raid]: the md arrays of the third-disk rotation (raid/rotate.py, docs/backup.md).

    [raid]
    mdadm = "/sbin/mdadm"     # the mdadm program
    proc = "/proc"            # where mdstat is
    sys = "/sys"              # where block/mdN/md/ is
    poll = 5                  # seconds between progress reads while waiting
    [raid.rotating]
    md0 = [2]                 # the slots of md0 that hold a rotating disk
    """

    mdadm: str = "mdadm"
    proc: Path = Path("/proc")
    sys: Path = Path("/sys")
    poll: float = 5.0
    rotating: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _raid(raw: object, path: Path) -> RaidSettings:
    raw = _table(raw, path, "raid", {"mdadm", "proc", "sys", "poll", "rotating"})
    strings = {}
    for key in ("mdadm", "proc", "sys"):
        value = raw.get(key, getattr(RaidSettings, key))
        if not isinstance(value, str | Path) or not str(value):
            raise SettingsError(f"{path}: [raid] {key} = a path (string)")
        strings[key] = str(value)
    poll = raw.get("poll", 5.0)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll <= 3600:
        raise SettingsError(f"{path}: [raid] poll = seconds between 0 and 3600")
    rotating_raw = raw.get("rotating", {})
    if not isinstance(rotating_raw, dict):
        raise SettingsError(f"{path}: [raid.rotating] must be a table ARRAY = [SLOT, ...]")
    rotating = {}
    for array, slots in rotating_raw.items():
        if not isinstance(slots, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in slots
        ):
            raise SettingsError(f"{path}: [raid.rotating] {array} = a list of slot numbers")
        rotating[array] = tuple(slots)
    return RaidSettings(
        mdadm=strings["mdadm"],
        proc=Path(strings["proc"]),
        sys=Path(strings["sys"]),
        poll=float(poll),
        rotating=rotating,
    )
