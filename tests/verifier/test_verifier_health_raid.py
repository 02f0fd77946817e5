"""The health kind reads RAID state with raid/ 's parsers (mdstat and sysfs): degraded is
CRITICAL, a resync WARNING, mismatch_cnt > 0 after a check WARNING, an empty rotating slot
([raid.rotating]) expected, no md arrays nothing at all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.raid.conftest import make_md
from tests.verifier.test_verifier_health_net import SELF, fixture_roots, health

from atlas_ha.layout.esd import EsdData
from atlas_ha.raid.record import Record
from atlas_ha.settings import RaidSettings
from atlas_ha.verifier.api import Context
from atlas_ha.verifier.kinds.health import HealthVerifier, mdstat
from atlas_ha.verifier.profile import Status, Threshold

ROTATED_OUT = """Personalities : [raid1]
md0 : active raid1 vdb[1] vda[0]
      7168 blocks super 1.2 [3/2] [UU_]
      bitmap: 1/1 pages [4KB], 65536KB chunk

unused devices: <none>
"""
RESYNC = """Personalities : [raid1]
md0 : active raid1 vdc[2] vdb[1] vda[0]
      7168 blocks super 1.2 [3/3] [UUU]
      [==>..................]  resync = 13.3% (1152/7168) finish=0.0min speed=1152K/sec

unused devices: <none>
"""
CLEAN3 = RESYNC.replace(
    "      [==>..................]  resync = 13.3% (1152/7168) finish=0.0min speed=1152K/sec\n",
    "",
)
ANY_FREE = {"free": Threshold(0.0, -1.0)}


def verify(ctx: Context, tmp: Path, text: str, **sysfs_attrs: str) -> tuple[Status, str]:
    tmp.mkdir(exist_ok=True)
    roots = fixture_roots(tmp, text, load5=0.1, avail_kb=900)
    if sysfs_attrs:
        make_md(Path(roots["sys"]), **sysfs_attrs)
    profile = HealthVerifier().verify(ctx, health(roots, thresholds=ANY_FREE), SELF)
    return profile.status, profile.summary


def test_an_empty_rotating_slot_is_expected_an_empty_other_slot_critical(
    ctx: Context, tmp_path: Path
) -> None:
    status, summary = verify(ctx, tmp_path / "a", ROTATED_OUT)
    assert status == Status.CRITICAL and "md0 degraded: 2/3 disks [UU_]" in summary
    rotating = replace(ctx.server.settings, raid=RaidSettings(rotating={"md0": (2,)}))
    ctx2 = replace(ctx, server=replace(ctx.server, settings=rotating))
    status, summary = verify(ctx2, tmp_path / "b", ROTATED_OUT)
    assert status == Status.OK, summary


def test_a_resync_is_a_warning(ctx: Context, tmp_path: Path) -> None:
    status, summary = verify(ctx, tmp_path, RESYNC)
    assert status == Status.WARNING and "md0: resync 13.3% (finish in 0.0 min)" in summary


def test_mismatches_after_a_check_are_a_warning(ctx: Context, tmp_path: Path) -> None:
    status, summary = verify(ctx, tmp_path / "a", CLEAN3, mismatch_cnt="128")
    assert status == Status.WARNING and "md0: mismatch_cnt 128 after the last check" in summary
    status, _ = verify(ctx, tmp_path / "b", CLEAN3, mismatch_cnt="0")
    assert status == Status.OK
    # after a resync (not a check) mismatch_cnt counts what the resync rewrote: no judgement
    status, _ = verify(ctx, tmp_path / "c", CLEAN3, mismatch_cnt="128", last_sync_action="resync")
    assert status == Status.OK


def test_no_md_arrays_add_nothing(tmp_path: Path) -> None:
    (tmp_path / "mdstat").write_text("Personalities : \nunused devices: <none>\n")
    assert mdstat(tmp_path / "mdstat", tmp_path / "sys") == (Status.OK, [])
    assert mdstat(tmp_path / "absent", tmp_path / "sys") == (Status.OK, [])


def test_an_unreadable_mdstat_is_a_warning_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "mdstat").write_text("Personalities : [raid1]\nmd0 : active raid1 sda[x]\n")
    status, notes = mdstat(tmp_path / "mdstat")
    assert status == Status.WARNING and f"{tmp_path}/mdstat:2:" in notes[0]


def test_the_slot_of_the_last_rotate_out_is_expected_as_raid_status_shows_it(
    ctx: Context, tmp_path: Path
) -> None:
    """No [raid.rotating]: the rotation record's last rotate-out names the rotating slot
    (raid/rotate.py rotating_map, the same fallback `raid status` uses)."""
    esd = EsdData(ctx.server.settings.esd_data)
    esd.root.mkdir(parents=True, exist_ok=True)
    Record(esd).add("md0", "rotate-out", slot=1)  # another slot: still degraded
    status, _ = verify(ctx, tmp_path / "a", ROTATED_OUT)
    assert status == Status.CRITICAL
    Record(esd).add("md0", "rotate-out", slot=2)
    status, summary = verify(ctx, tmp_path / "b", ROTATED_OUT)
    assert status == Status.OK, summary
