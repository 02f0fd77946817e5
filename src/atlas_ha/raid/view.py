"""One array as the rotation sees it: sysfs, /proc/mdstat and `mdadm --detail` merged, each
slot with its member (device, sysfs state, member UUID, event count) or empty, the rotating
slots marked, and a verdict (clean, degraded, syncing, inactive) where an empty rotating slot
is expected, not degraded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atlas_ha.raid.detail import Detail, Examine
from atlas_ha.raid.mdstat import Array, Progress
from atlas_ha.raid.sysfs import MdSysfs

RUNNING = {"resync", "recover", "check", "repair", "reshape"}


@dataclass(frozen=True)
class Slot:
    number: int | None  # None: not in a slot (a spare, a faulty member)
    device: str | None  # "/dev/vdc"; None: the slot is empty
    state: tuple[str, ...] = ()
    dev_uuid: str | None = None
    events: int | None = None
    rotating: bool = False

    @property
    def in_sync(self) -> bool:
        return self.device is not None and "in_sync" in self.state and "faulty" not in self.state

    def describe(self) -> str:
        where = f"slot {self.number}" if self.number is not None else "no slot"
        return f"{self.device or '(empty)'} ({where}, member UUID {self.dev_uuid or '?'})"


@dataclass(frozen=True)
class ArrayView:
    name: str
    level: str
    uuid: str
    array_state: str
    sync_action: str
    raid_disks: int
    mismatch_cnt: int
    last_sync_action: str | None
    size_kib: int | None
    progress: Progress | None
    slots: tuple[Slot, ...]
    rotating_slots: tuple[int, ...]
    speed_kib: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def syncing(self) -> bool:
        return self.sync_action in RUNNING or (
            self.progress is not None and self.progress.waiting is None
        )

    @property
    def in_sync(self) -> list[Slot]:
        return [s for s in self.slots if s.in_sync]

    @property
    def empty_slots(self) -> list[int]:
        return [s.number for s in self.slots if s.device is None and s.number is not None]

    @property
    def verdict(self) -> str:
        if self.array_state in ("inactive", "clear", "broken", "suspended"):
            return "inactive"
        if self.syncing:
            return "syncing"
        missing = [
            s for s in self.slots if s.number is not None and not s.in_sync and not s.rotating
        ]
        faulty = [s for s in self.slots if "faulty" in s.state]
        if missing or faulty or len(self.in_sync) < 2:
            return "degraded"
        return "clean"

    def find(self, member: str) -> Slot | None:
        """The member named by its member UUID, its device path or its kernel name."""
        for slot in self.slots:
            if slot.device is None:
                continue
            if member in (slot.dev_uuid, slot.device) or member == slot.device.rsplit("/", 1)[-1]:
                return slot
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "array": self.name,
            "level": self.level,
            "uuid": self.uuid,
            "verdict": self.verdict,
            "array_state": self.array_state,
            "sync_action": self.sync_action,
            "progress": None
            if self.progress is None
            else {
                "action": self.progress.action,
                "percent": self.progress.percent,
                "finish_min": self.progress.finish_min,
                "speed_kib": self.progress.speed_kib,
                "waiting": self.progress.waiting,
            },
            "raid_disks": self.raid_disks,
            "rotating_slots": list(self.rotating_slots),
            "mismatch_cnt": self.mismatch_cnt,
            "last_sync_action": self.last_sync_action,
            "slots": [
                {
                    "slot": s.number,
                    "device": s.device,
                    "state": list(s.state),
                    "member_uuid": s.dev_uuid,
                    "events": s.events,
                    "rotating": s.rotating,
                    "expected_empty": s.device is None and s.rotating,
                }
                for s in self.slots
            ],
            "notes": list(self.notes),
        }


def merge(
    sys: MdSysfs,
    array: Array | None,
    detail: Detail,
    examines: dict[str, Examine | None],
    rotating: tuple[int, ...],
) -> ArrayView:
    """`examines`: device path -> its --examine (None when it could not be read)."""
    paths = {m.device.rsplit("/", 1)[-1]: m.device for m in detail.members}
    slots: list[Slot] = []
    taken = set()
    for dev in sys.devices:
        path = paths.get(dev.name, f"/dev/{dev.name}")
        exam = examines.get(path)
        slots.append(
            Slot(
                dev.slot,
                path,
                dev.state,
                exam.dev_uuid if exam else None,
                exam.events if exam else None,
                dev.slot in rotating,
            )
        )
        if dev.slot is not None:
            taken.add(dev.slot)
    for number in range(sys.raid_disks):
        if number not in taken:
            slots.append(Slot(number, None, rotating=number in rotating))
    slots.sort(key=lambda s: (s.number is None, s.number or 0, s.device or ""))
    notes = []
    for s in slots:
        if s.device is None and s.rotating:
            notes.append(f"slot {s.number}: empty, a rotating slot (expected)")
        elif s.device is None:
            notes.append(f"slot {s.number}: empty and not a rotating slot (degraded)")
    return ArrayView(
        name=sys.name,
        level=sys.level,
        uuid=detail.uuid,
        array_state=sys.array_state,
        sync_action=sys.sync_action,
        raid_disks=sys.raid_disks,
        mismatch_cnt=sys.mismatch_cnt,
        last_sync_action=sys.last_sync_action,
        size_kib=sys.size_kib,
        progress=array.progress if array else None,
        slots=tuple(slots),
        rotating_slots=rotating,
        speed_kib=sys.sync_speed,
        notes=tuple(notes),
    )


def estimate_seconds(view: ArrayView, default_speed_kib: int = 1000) -> float | None:
    """Seconds until the running sync ends: what is left over the speed mdstat shows (or
    the current sysfs speed, or `default_speed_kib`, the kernel's speed_limit_min)."""
    p = view.progress
    if p is not None and p.done is not None and p.total is not None:
        left = p.total - p.done
        speed = p.speed_kib or view.speed_kib or default_speed_kib
    elif view.size_kib is not None:
        left = view.size_kib
        speed = view.speed_kib or default_speed_kib
    else:
        return None
    return left / max(speed, 1)
