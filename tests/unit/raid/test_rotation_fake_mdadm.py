"""Rotation against a fake mdadm/wipefs (a Runner answering from a table) and a fake sysfs
tree: the check after a resync that finds mismatch_cnt 128 records an alert and says so;
rotate-out refuses a frozen sync; rotate-in refuses a disk carrying a filesystem or a
partition table (wipefs) unless forced, and never wipes anything it refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from tests.unit.raid.conftest import make_md

from atlas_ha.errors import RaidError
from atlas_ha.layout.esd import EsdData
from atlas_ha.raid.record import Record
from atlas_ha.raid.rotate import Rotation, rotating_map
from atlas_ha.settings import RaidSettings
from atlas_ha.system import Completed, Runner

UUID = "cbe1de75:a3de4dde:aa860b9b:51365701"
MDSTAT = """Personalities : [raid1]
md0 : active raid1 vdb[1] vda[0]
      7168 blocks super 1.2 [3/2] [UU_]

unused devices: <none>
"""


class FakeTools(Runner):
    """mdadm --detail/--examine from the fake sysfs; wipefs from `signatures`; every
    other call (an mdadm that would change something) is noted in `changes`."""

    def __init__(self, sys_root: Path, signatures: Mapping[str, str] | None = None) -> None:
        self.sys_root, self.signatures = sys_root, dict(signatures or {})
        self.changes: list[list[str]] = []

    def run(self, argv: Sequence[str], **_kw: object) -> Completed:  # type: ignore[override]
        args = list(argv)
        md = self.sys_root / "block" / "md0" / "md"
        if args[1:3] == ["--detail", "--export"]:
            lines = ["MD_LEVEL=raid1", "MD_DEVICES=3", f"MD_UUID={UUID}"]
            for dev in sorted(md.glob("dev-*")):
                name = dev.name.removeprefix("dev-")
                slot = (dev / "slot").read_text().strip()
                lines += [
                    f"MD_DEVICE_dev_{name}_ROLE={slot}",
                    f"MD_DEVICE_dev_{name}_DEV=/dev/{name}",
                ]
            return Completed(tuple(args), 0, "\n".join(lines) + "\n", "")
        if args[1:3] == ["--examine", "--export"]:
            name = Path(args[3]).name
            if not (md / f"dev-{name}").exists():
                return Completed(
                    tuple(args), 1, "", f"mdadm: No md superblock detected on {args[3]}."
                )
            text = (
                f"MD_LEVEL=raid1\nMD_DEVICES=3\nMD_UUID={UUID}\n"
                f"MD_DEV_UUID={name[-1] * 8}:00000000:00000000:00000000\nMD_EVENTS=40\n"
            )
            return Completed(tuple(args), 0, text, "")
        if args[0] == "wipefs" and "--no-act" in args:  # listing only
            return Completed(tuple(args), 0, self.signatures.get(args[-1], ""), "")
        self.changes.append(args)
        return Completed(tuple(args), 0, "", "")


def rotation(tmp: Path, tools: FakeTools, **raid: object) -> Rotation:
    proc = tmp / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "mdstat").write_text(MDSTAT)
    settings = RaidSettings(proc=proc, sys=tools.sys_root, poll=0.0, **raid)  # type: ignore[arg-type]
    esd = tmp / "esd"
    esd.mkdir(exist_ok=True)
    return Rotation(settings, EsdData(esd), tools, sleep=lambda _s: None)


def test_a_check_finding_mismatches_records_an_alert(tmp_path: Path) -> None:
    sys_root = make_md(tmp_path / "sys")
    md = sys_root / "block" / "md0" / "md"
    tools = FakeTools(sys_root)
    said: list[str] = []
    rot = rotation(tmp_path, tools, rotating={"md0": (2,)})
    rot.say = said.append
    polls = []

    def sleep(_seconds: float) -> None:  # the kernel: the check runs, then finds 128
        polls.append(1)
        assert (md / "sync_action").read_text() == "check\n"  # what _check asked for
        (md / "sync_action").write_text("idle\n")
        (md / "mismatch_cnt").write_text("128\n")
        (md / "last_sync_action").write_text("check\n")

    rot.sleep = sleep
    event = rot.check("md0")
    assert event["kind"] == "check" and event["mismatch_cnt"] == 128 and polls
    kinds = [(e["kind"], e.get("mismatch_cnt"), e.get("reason")) for e in rot.record.events("md0")]
    assert kinds == [
        ("check", 128, None),
        ("alert", None, "check found mismatch_cnt 128 (sectors that differ)"),
    ]
    assert "md0: ALERT: check found mismatch_cnt 128" in said


def test_a_clean_check_records_no_alert(tmp_path: Path) -> None:
    sys_root = make_md(tmp_path / "sys")
    md = sys_root / "block" / "md0" / "md"
    rot = rotation(tmp_path, FakeTools(sys_root), rotating={"md0": (2,)})
    rot.sleep = lambda _s: (md / "sync_action").write_text("idle\n")  # type: ignore[func-returns-value]
    assert rot.check("md0")["mismatch_cnt"] == 0
    assert [e["kind"] for e in rot.record.events("md0")] == ["check"]


def test_rotate_out_refuses_a_frozen_sync(tmp_path: Path) -> None:
    tools = FakeTools(make_md(tmp_path / "sys", sync_action="frozen"))
    rot = rotation(tmp_path, tools, rotating={"md0": (2,)})
    with pytest.raises(RaidError, match="sync_action frozen; expected idle before removing"):
        rot.rotate_out("md0", "/dev/vdc")
    assert tools.changes == [] and rot.record.events("md0") == []


ROTATED_OUT = {"vda": ("in_sync", "0"), "vdb": ("in_sync", "1")}


@pytest.mark.parametrize(
    "found", ["ext4 0x438", "gpt 0x200\nPMBR 0x1fe", "linux_raid_member 0x1000\nxfs 0x0"]
)
def test_rotate_in_refuses_a_disk_carrying_another_signature(tmp_path: Path, found: str) -> None:
    tools = FakeTools(make_md(tmp_path / "sys", devices=ROTATED_OUT), {"/dev/vdd": found})
    rot = rotation(tmp_path, tools, rotating={"md0": (2,)})
    with pytest.raises(RaidError, match=r"/dev/vdd carries .*\(wipefs\).*repeat with --force"):
        rot.rotate_in("md0", "/dev/vdd", wait=False)
    assert tools.changes == []  # nothing wiped, nothing added


def test_rotate_in_of_a_blank_disk_or_with_force_adds_it(tmp_path: Path) -> None:
    sys_root = make_md(tmp_path / "sys", devices=ROTATED_OUT)
    tools = FakeTools(sys_root, {"/dev/vdd": "ext4 0x438"})
    rot = rotation(tmp_path, tools, rotating={"md0": (2,)})
    with pytest.raises(RaidError, match="is not a member after --add"):  # the fake adds nothing
        rot.rotate_in("md0", "/dev/vdd", wait=False, force=True)
    assert tools.changes == [
        ["wipefs", "--all", "/dev/vdd"],
        ["mdadm", "/dev/md0", "--add", "/dev/vdd"],
    ]
    tools.signatures, tools.changes = {"/dev/vde": "linux_raid_member 0x1000"}, []
    with pytest.raises(RaidError, match="is not a member after --add"):
        rot.rotate_in("md0", "/dev/vde", wait=False)  # an md signature only: examine judges
    assert tools.changes == [["mdadm", "/dev/md0", "--add", "/dev/vde"]]


def test_rotating_slots_fall_back_to_the_last_rotate_out(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    assert rotating_map(RaidSettings(), esd) == {}
    Record(esd).add("md0", "rotate-out", slot=2)
    Record(esd).add("md1", "rotate-out", slot=1)
    assert rotating_map(RaidSettings(rotating={"md1": (3,)}), esd) == {"md0": (2,), "md1": (3,)}
    esd.raid_record_file.write_text("not json")
    assert rotating_map(RaidSettings(rotating={"md1": (3,)}), esd) == {"md1": (3,)}
