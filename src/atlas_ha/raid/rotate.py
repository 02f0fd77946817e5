"""The RAID1 third-disk rotation (SPEC 7.6, docs/backup.md) over mdadm.

rotate-out ARRAY --member UUID-or-DEV: refuses unless the array is clean, not syncing (nor
frozen) and
>= 2 in-sync members remain; records the member's UUID and event count (EsdData.
raid_record_file) before `mdadm --fail` and `--remove`.

rotate-in ARRAY DEVICE: a returning disk is stale by design. `mdadm --re-add` of a stale
disk can be accepted through the write-intent bitmap and leave a mirror whose blocks differ
(the bitmap remembers the writes since the last disk left the slot, not since this disk
did). So rotate-in never re-adds (and refuses a disk carrying another signature, a
filesystem or a partition table, unless forced): it wipes the md superblock
(`--zero-superblock`) and `--add`s the disk as new, which forces a full recovery;
afterwards a `check` compares the mirrors and a mismatch_cnt > 0 is an alert: in the
rotation record, and (given the settings) an operation's alert record and the ops_alert
event (ops/notify.py; the alert engine sends it through the channels). Each step is refused
with a RaidError naming the array, the member and what was expected.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atlas_ha.errors import AtlasError, FormatError, RaidError
from atlas_ha.layout.atomic import locked
from atlas_ha.layout.esd import EsdData
from atlas_ha.ops.notify import emit_alert
from atlas_ha.raid import detail as detail_mod
from atlas_ha.raid import mdstat as mdstat_mod
from atlas_ha.raid import sysfs as sysfs_mod
from atlas_ha.raid.record import Record
from atlas_ha.raid.view import ArrayView, estimate_seconds, merge
from atlas_ha.settings import RaidSettings, Settings
from atlas_ha.system import Completed, Runner

CLEAN_STATES = {"clean", "active", "active-idle"}
NO_SUPERBLOCK = "No md superblock detected"


def short(array: str) -> str:
    return Path(array).name


def refuse_rotate_out(view: ArrayView, member: str) -> None:
    """Raise RaidError unless removing `member` leaves a clean mirror of >= 2 disks."""
    where = f"{view.name} ({view.uuid})"
    slot = view.find(member)
    if slot is None:
        known = ", ".join(s.describe() for s in view.slots if s.device) or "none"
        raise RaidError(f"{where}: no member {member!r}; expected one of: {known}")
    if view.level != "raid1":
        raise RaidError(f"{where}: level {view.level}; expected raid1 for a rotation")
    if view.array_state not in CLEAN_STATES:
        raise RaidError(
            f"{where}: array_state {view.array_state}; expected clean before removing "
            f"{slot.describe()}"
        )
    if view.sync_action == "frozen":
        raise RaidError(
            f"{where}: sync_action frozen; expected idle before removing {slot.describe()} "
            "(something froze md's sync: a resync may be pending; let it run first)"
        )
    if view.syncing:
        action = view.progress.action if view.progress else view.sync_action
        pct = f" at {view.progress.percent}%" if view.progress and view.progress.percent else ""
        raise RaidError(
            f"{where}: {action} running{pct}; expected idle before removing {slot.describe()} "
            "(wait for it to finish)"
        )
    if not slot.in_sync:
        raise RaidError(
            f"{where}: {slot.describe()} is {','.join(slot.state) or 'not in sync'}; expected "
            "an in-sync member (a disk that is not a full mirror is no backup)"
        )
    left = len(view.in_sync) - 1
    if left < 2:
        raise RaidError(
            f"{where}: removing {slot.describe()} would leave {left} in-sync member(s); "
            "expected >= 2"
        )
    if view.rotating_slots and slot.number not in view.rotating_slots:
        raise RaidError(
            f"{where}: {slot.describe()} is not in a rotating slot {list(view.rotating_slots)}; "
            "expected the rotating disk ([raid.rotating] in the settings)"
        )


def refuse_rotate_in(
    view: ArrayView, device: str, exam: detail_mod.Examine | None, members_anywhere: set[str]
) -> None:
    """Raise RaidError unless `device` may be wiped and added to the array as new."""
    where = f"{view.name} ({view.uuid})"
    if view.level != "raid1":
        raise RaidError(f"{where}: level {view.level}; expected raid1 for a rotation")
    if view.array_state not in CLEAN_STATES:
        raise RaidError(f"{where}: array_state {view.array_state}; expected an active array")
    if view.syncing:
        raise RaidError(
            f"{where}: {view.sync_action} running; expected idle before adding {device}"
        )
    if Path(device).name in members_anywhere:
        raise RaidError(f"{where}: {device} is a member of a running array; expected a free disk")
    if not view.empty_slots:
        raise RaidError(
            f"{where}: no empty slot for {device}; expected a rotated-out slot (rotate-out first)"
        )
    if exam is not None and exam.uuid != view.uuid:
        raise RaidError(
            f"{where}: {device} carries an md superblock of another array ({exam.uuid}); "
            f"expected a blank disk or one of {view.name}'s rotating disks"
        )


def foreign(found: list[str]) -> list[str]:
    """The signatures `wipefs` listed (`TYPE OFFSET`) other than an md superblock's."""
    return [entry for entry in found if entry.split()[:1] != ["linux_raid_member"]]


def refuse_foreign_signatures(view: ArrayView, device: str, found: list[str]) -> None:
    """Raise RaidError if `device` carries signatures other than an md superblock (a
    filesystem, a partition table)."""
    other = foreign(found)
    if other:
        raise RaidError(
            f"{view.name} ({view.uuid}): {device} carries {', '.join(other)} (wipefs); expected "
            f"a blank disk or one of {view.name}'s rotating disks. Rotating it in destroys "
            "that data: check the disk, then repeat with --force"
        )


def rotating_map(raid: RaidSettings, esd: EsdData) -> dict[str, tuple[int, ...]]:
    """The rotating slots of every array: [raid.rotating], else the slot of the array's last
    rotate-out in the rotation record (what `raid status` and the health kind both show)."""
    found: dict[str, tuple[int, ...]] = {}
    with contextlib.suppress(FormatError, OSError):  # a broken record: the settings only
        for name, events in Record(esd).load().items():
            slots = [e.get("slot") for e in events if e.get("kind") == "rotate-out"]
            if slots and isinstance(slots[-1], int):
                found[name] = (slots[-1],)
    return {**found, **raid.rotating}


class Rotation:
    def __init__(
        self,
        raid: RaidSettings,
        esd: EsdData,
        runner: Runner | None = None,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = lambda _line: None,
        settings: Settings | None = None,  # the server's: a check's mismatches are alerted
    ) -> None:
        self.settings = settings
        self.raid = raid
        self.esd = esd
        self.runner = runner or Runner()
        self.sleep = sleep
        self.say = say
        self.record = Record(esd)

    # reading
    def _mdadm(self, *args: str, array: str, check: bool = True) -> Completed:
        try:
            return self.runner.run([self.raid.mdadm, *args], timeout=120, check=check)
        except AtlasError as exc:
            raise RaidError(f"{array}: mdadm {' '.join(args)} failed: {exc}") from exc

    def examine(self, device: str, array: str) -> detail_mod.Examine | None:
        """The member's superblock, or None when it has none."""
        done = self._mdadm("--examine", "--export", device, array=array, check=False)
        if done.returncode != 0:
            if NO_SUPERBLOCK in done.stderr or "Unrecognised md component" in done.stderr:
                return None
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise RaidError(f"{array}: mdadm --examine {device}: exit {done.returncode} {tail}")
        return detail_mod.parse_examine(done.stdout, f"mdadm --examine --export {device}")

    def mdstat(self) -> mdstat_mod.Mdstat | None:
        return mdstat_mod.read(self.raid.proc / "mdstat")

    def arrays(self) -> list[str]:
        return sysfs_mod.arrays(self.raid.sys)

    def rotating_slots(self, array: str) -> tuple[int, ...]:
        return rotating_map(self.raid, self.esd).get(array, ())

    def _run_tool(self, argv: list[str], array: str) -> Completed:
        try:
            return self.runner.run(argv, timeout=120)
        except AtlasError as exc:
            raise RaidError(f"{array}: {' '.join(argv)} failed: {exc}") from exc

    def signatures(self, device: str, array: str) -> list[str]:
        """What `wipefs` (listing only, --no-act) finds on `device`: "TYPE OFFSET" each."""
        try:
            done = self.runner.run(
                ["wipefs", "--no-act", "--noheadings", "--output", "TYPE,OFFSET", device],
                timeout=60,
            )
        except AtlasError as exc:
            raise RaidError(
                f"{array}: cannot check {device} for other signatures ({exc}); expected wipefs "
                "(util-linux), or repeat with --force"
            ) from exc
        return [" ".join(line.split()) for line in done.stdout.splitlines() if line.strip()]

    def view(self, array: str) -> ArrayView:
        name = short(array)
        try:
            sys = sysfs_mod.read(self.raid.sys, name)
        except FormatError as exc:
            raise RaidError(f"{name}: {exc}") from exc
        stat = self.mdstat()
        done = self._mdadm("--detail", "--export", f"/dev/{name}", array=name)
        detail = detail_mod.parse_detail(done.stdout, f"mdadm --detail --export /dev/{name}")
        examines = {m.device: self.examine(m.device, name) for m in detail.members}
        return merge(
            sys, stat.array(name) if stat else None, detail, examines, self.rotating_slots(name)
        )

    def status(self, array: str | None) -> list[dict[str, Any]]:
        names = [short(array)] if array else self.arrays()
        out = []
        for name in names:
            view = self.view(name)
            data = view.as_dict()
            data["last_check"] = self.record.last(name, "check")
            data["last_rotate_out"] = self.record.last(name, "rotate-out")
            if view.syncing:
                data["estimate_seconds"] = estimate_seconds(view, self._speed_min())
            out.append(data)
        return out

    def _speed_min(self) -> int:
        try:
            return int((self.raid.proc / "sys/dev/raid/speed_limit_min").read_text().strip())
        except (OSError, ValueError):
            return 1000

    # operations
    def rotate_out(self, array: str, member: str) -> dict[str, Any]:
        name = short(array)
        with locked(self.esd.raid_lock_file):
            view = self.view(name)
            refuse_rotate_out(view, member)
            slot = view.find(member)
            assert slot is not None and slot.device is not None  # refuse_rotate_out checked
            event = self.record.add(
                name,
                "rotate-out",
                array_uuid=view.uuid,
                device=slot.device,
                member_uuid=slot.dev_uuid,
                events=slot.events,
                slot=slot.number,
            )
            self.say(f"{name}: recorded {slot.describe()} at event count {slot.events}")
            self._mdadm(f"/dev/{name}", "--fail", slot.device, array=name)
            self._mdadm(f"/dev/{name}", "--remove", slot.device, array=name)
            after = self.view(name)
            if after.find(slot.device) is not None:
                raise RaidError(f"{name}: {slot.describe()} is still a member after --remove")
            return {"removed": event, "array": after.as_dict()}

    def rotate_in(
        self, array: str, device: str, wait: bool = True, force: bool = False
    ) -> dict[str, Any]:
        """`force`: wipe a disk carrying other signatures (a filesystem, a partition table)
        too; never one of another md array or a member of a running one."""
        name = short(array)
        with locked(self.esd.raid_lock_file):
            view = self.view(name)
            stat = self.mdstat()
            anywhere = {m.name for a in (stat.arrays if stat else ()) for m in a.members}
            exam = self.examine(device, name)
            refuse_rotate_in(view, device, exam, anywhere)
            try:
                found = self.signatures(device, name)
            except RaidError:
                if not force:
                    raise
                found = []  # forced: wipefs missing, mdadm's own superblock is replaced
            if not force:
                refuse_foreign_signatures(view, device, found)
            elif other := foreign(found):
                self.say(f"{name}: {device} carries {', '.join(other)}; wiping (--force)")
                self._run_tool(["wipefs", "--all", device], array=name)
            if exam is not None:
                # stale by design: wipe it so md cannot take it back through the bitmap
                self.say(
                    f"{name}: {device} is a returning disk (event count {exam.events}); wiping"
                )
                self._mdadm("--zero-superblock", device, array=name)
            self._mdadm(f"/dev/{name}", "--add", device, array=name)
            event = self.record.add(
                name,
                "rotate-in",
                array_uuid=view.uuid,
                device=device,
                previous_member_uuid=exam.dev_uuid if exam else None,
                previous_events=exam.events if exam else None,
                slot=view.empty_slots[0],
            )
            after = self.view(name)
            added = after.find(device)
            if added is None:
                raise RaidError(f"{name}: {device} is not a member after --add")
            estimate = estimate_seconds(after, self._speed_min())
            result: dict[str, Any] = {"added": event, "estimate_seconds": estimate}
            if estimate is not None:
                self.say(f"{name}: recovery onto {device}: about {estimate / 60:.1f} min")
            if not wait:
                result["array"] = after.as_dict()
                return result
            after = self._wait_idle(name, lambda v: bool((s := v.find(device)) and s.in_sync))
            added = after.find(device)
            if added is None or not added.in_sync:
                state = ",".join(added.state) if added else "gone"
                raise RaidError(f"{name}: {device} is {state} after the recovery; expected in_sync")
            result["check"] = self._check(name, wait=True)
            result["array"] = self.view(name).as_dict()
            return result

    def check(self, array: str, wait: bool = True) -> dict[str, Any]:
        with locked(self.esd.raid_lock_file):
            return self._check(short(array), wait)

    def _check(self, name: str, wait: bool) -> dict[str, Any]:
        view = self.view(name)
        if view.syncing:
            raise RaidError(f"{name}: {view.sync_action} running; expected idle before a check")
        action = sysfs_mod.md_dir(self.raid.sys, name) / "sync_action"
        try:
            action.write_text("check\n")
        except OSError as exc:
            raise RaidError(f"{name}: cannot start a check ({action}): {exc.strerror}") from exc
        self.say(f"{name}: check started")
        if not wait:
            return {"started": True}
        after = self._wait_idle(name)
        event = self.record.add(name, "check", mismatch_cnt=after.mismatch_cnt)
        if after.mismatch_cnt > 0:
            reason = f"check found mismatch_cnt {after.mismatch_cnt} (sectors that differ)"
            self.record.add(name, "alert", reason=reason)
            self.say(f"{name}: ALERT: check found mismatch_cnt {after.mismatch_cnt}")
            if self.settings is not None:
                emit_alert(
                    self.settings,
                    "raid-mismatch",
                    f"{name}: {reason}",
                    array=name,
                    mismatch_cnt=after.mismatch_cnt,
                )
        return event

    def _wait_idle(
        self, name: str, done: Callable[[ArrayView], bool] = lambda _v: True, idle_polls: int = 5
    ) -> ArrayView:
        """Poll until no sync runs and `done`; idle but not `done` for `idle_polls` polls in
        a row (a recovery that never started) returns the view for the caller to judge."""
        idle = 0
        while True:
            self.sleep(self.raid.poll)
            view = self.view(name)
            if not view.syncing:
                idle += 1
                if done(view) or idle >= idle_polls:
                    return view
                continue
            idle = 0
            if view.progress and view.progress.percent is not None:
                self.say(
                    f"{name}: {view.progress.action} {view.progress.percent}% "
                    f"(finish in {view.progress.finish_min} min)"
                )
