"""The md attributes in sysfs (Documentation/admin-guide/md.rst): SYS/block/mdN/md/.

Read from a configurable root (tests and the QEMU guest's captures feed a directory tree).
A value of an unexpected form is a FormatError naming the attribute file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import FormatError
from atlas_ha.raid.detail import decimal

ARRAY_STATES = {
    "clear",
    "inactive",
    "suspended",
    "readonly",
    "read-auto",
    "clean",
    "active",
    "write-pending",
    "active-idle",
    "broken",
}
SYNC_ACTIONS = {"idle", "resync", "recover", "check", "repair", "reshape", "frozen"}
DEV_STATES = {
    "faulty",
    "in_sync",
    "writemostly",
    "blocked",
    "spare",
    "write_error",
    "want_replacement",
    "replacement",
    "external_bbl",
    "journal",
    "failfast",
}
COMPLETED_RE = re.compile(r"^(\d+) / (\d+)$")


@dataclass(frozen=True)
class Device:
    name: str  # "vdc" from dev-vdc
    state: tuple[str, ...]
    slot: int | None  # None: "none" (a spare, or faulty)

    @property
    def in_sync(self) -> bool:
        return "in_sync" in self.state and "faulty" not in self.state


@dataclass(frozen=True)
class MdSysfs:
    name: str
    array_state: str
    level: str
    raid_disks: int
    degraded: int
    sync_action: str
    sync_completed: tuple[int, int] | None  # sectors done / total; None: "none"
    mismatch_cnt: int
    last_sync_action: str | None
    sync_speed: int | None  # K/sec, current
    size_kib: int | None  # the array's size (component size for raid1)
    devices: tuple[Device, ...]

    @property
    def syncing(self) -> bool:
        return self.sync_action not in ("idle", "frozen") or self.sync_completed is not None

    @property
    def clean(self) -> bool:
        return self.array_state in ("clean", "active", "active-idle", "write-pending")

    def device(self, name: str) -> Device | None:
        short = Path(name).name
        return next((d for d in self.devices if d.name == short), None)


def md_dir(sys_root: Path, array: str) -> Path:
    return sys_root / "block" / Path(array).name / "md"


def arrays(sys_root: Path) -> list[str]:
    """Names of the md arrays sysfs shows ("md0", ...)."""
    block = sys_root / "block"
    if not block.is_dir():
        return []
    return sorted(
        p.name for p in block.iterdir() if p.name.startswith("md") and (p / "md").is_dir()
    )


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as exc:
        raise FormatError(path, None, f"cannot read: {exc.strerror}") from exc


def _int(path: Path) -> int:
    text = _text(path)
    if not decimal(text):
        raise FormatError(path, 1, f"expected a number, not {text[:40]!r}")
    return int(text)


def _optional(path: Path) -> str | None:
    return _text(path) if path.exists() else None


def _one_of(path: Path, allowed: set[str]) -> str:
    text = _text(path)
    if text not in allowed:
        raise FormatError(path, 1, f"expected one of {sorted(allowed)}, not {text[:40]!r}")
    return text


def read(sys_root: Path, array: str) -> MdSysfs:
    md = md_dir(sys_root, array)
    if not md.is_dir():
        raise FormatError(md, None, f"no md directory: is {array} an md array?")
    completed_text = _text(md / "sync_completed")
    completed: tuple[int, int] | None = None
    if completed_text not in ("none", "delayed"):
        if not (m := COMPLETED_RE.match(completed_text)):
            raise FormatError(
                md / "sync_completed", 1, f"expected 'none' or 'N / M', not {completed_text!r}"
            )
        completed = (int(m.group(1)), int(m.group(2)))
    speed = _optional(md / "sync_speed")
    last = _optional(md / "last_sync_action")
    size_text = _optional(md / "component_size")
    devices = []
    for dev in sorted(md.glob("dev-*")):
        state = tuple(s for s in _text(dev / "state").split(",") if s)
        unknown = [s for s in state if s not in DEV_STATES]
        if unknown:
            raise FormatError(dev / "state", 1, f"unknown device state {unknown[0]!r}")
        slot_text = _text(dev / "slot")
        if slot_text != "none" and not decimal(slot_text):
            raise FormatError(
                dev / "slot", 1, f"expected a slot number or 'none', not {slot_text!r}"
            )
        devices.append(
            Device(
                dev.name.removeprefix("dev-"),
                state,
                None if slot_text == "none" else int(slot_text),
            )
        )
    return MdSysfs(
        name=Path(array).name,
        array_state=_one_of(md / "array_state", ARRAY_STATES),
        level=_text(md / "level"),
        raid_disks=_int(md / "raid_disks"),
        degraded=_int(md / "degraded") if (md / "degraded").exists() else 0,
        sync_action=_one_of(md / "sync_action", SYNC_ACTIONS)
        if (md / "sync_action").exists()
        else "idle",
        sync_completed=completed,
        mismatch_cnt=_int(md / "mismatch_cnt") if (md / "mismatch_cnt").exists() else 0,
        last_sync_action=last,
        sync_speed=int(speed) if speed and decimal(speed) else None,
        size_kib=int(size_text) if size_text and decimal(size_text) else None,
        devices=tuple(devices),
    )
