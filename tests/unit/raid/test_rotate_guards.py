"""The rotation's guards on the merged view of an array: rotate-out refuses unless the array
is clean, idle, and keeps >= 2 in-sync members; rotate-in refuses a disk of another array, a
member of a running array, a full array; an empty rotating slot is expected, not degraded."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.raid.conftest import make_md

from atlas_ha.errors import RaidError
from atlas_ha.raid import detail, mdstat, sysfs
from atlas_ha.raid.rotate import refuse_rotate_in, refuse_rotate_out
from atlas_ha.raid.view import ArrayView, estimate_seconds, merge

UUID = "cbe1de75:a3de4dde:aa860b9b:51365701"
OTHER = "11111111:22222222:33333333:44444444"
MDSTAT = """Personalities : [raid1]
md0 : active raid1 vdc[2] vdb[1] vda[0]
      7168 blocks super 1.2 [3/2] [UU_]
      [=>...................]  recovery =  6.6% (512/7168) finish=0.2min speed=512K/sec

unused devices: <none>
"""


def view(
    tmp: Path,
    devices: dict[str, tuple[str, str]] | None = None,
    rotating: tuple[int, ...] = (2,),
    progress: bool = False,
    **attrs: str,
) -> ArrayView:
    root = make_md(tmp, devices=devices, **attrs)
    sys = sysfs.read(root, "md0")
    text = (
        "MD_LEVEL=raid1\nMD_DEVICES=3\nMD_UUID="
        + UUID
        + "\n"
        + "".join(
            f"MD_DEVICE_dev_{d.name}_ROLE={d.slot if d.slot is not None else 'spare'}\n"
            f"MD_DEVICE_dev_{d.name}_DEV=/dev/{d.name}\n"
            for d in sys.devices
        )
    )
    exams = {
        f"/dev/{d.name}": detail.Examine(
            UUID, f"{d.name[-1] * 8}:00000000:00000000:00000000", 40, "raid1", 3
        )
        for d in sys.devices
    }
    array = mdstat.parse(MDSTAT).array("md0") if progress else None
    return merge(sys, array, detail.parse_detail(text), exams, rotating)


MEMBER_C = "cccccccc:00000000:00000000:00000000"


def test_a_clean_idle_three_way_mirror_lets_the_rotating_member_go(tmp_path: Path) -> None:
    v = view(tmp_path)
    refuse_rotate_out(v, MEMBER_C)  # by member UUID
    refuse_rotate_out(v, "/dev/vdc")
    assert v.find(MEMBER_C).number == 2 and v.verdict == "clean"  # type: ignore[union-attr]
    assert [s.rotating for s in v.slots] == [False, False, True]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"array_state": "inactive"}, "array_state inactive; expected clean"),
        ({"sync_action": "resync"}, "resync running; expected idle"),
        ({"sync_action": "check"}, "check running; expected idle"),
    ],
)
def test_rotate_out_refuses_an_array_not_clean_or_syncing(
    tmp_path: Path, attrs: dict[str, str], expected: str
) -> None:
    with pytest.raises(RaidError) as caught:
        refuse_rotate_out(view(tmp_path, **attrs), MEMBER_C)
    assert expected in str(caught.value) and "md0" in str(caught.value)
    assert "/dev/vdc" in str(caught.value)


def test_rotate_out_refuses_while_mdstat_shows_a_recovery(tmp_path: Path) -> None:
    with pytest.raises(RaidError, match=r"recovery running at 6.6%"):
        refuse_rotate_out(view(tmp_path, progress=True), MEMBER_C)


def test_rotate_out_refuses_to_leave_fewer_than_two_in_sync_members(tmp_path: Path) -> None:
    two = {"vda": ("in_sync", "0"), "vdc": ("in_sync", "2")}
    with pytest.raises(RaidError, match=r"would leave 1 in-sync member\(s\); expected >= 2"):
        refuse_rotate_out(view(tmp_path, devices=two, degraded="1"), "/dev/vdc")


def test_rotate_out_refuses_a_member_not_in_sync(tmp_path: Path) -> None:
    devs = {"vda": ("in_sync", "0"), "vdb": ("in_sync", "1"), "vdc": ("faulty", "none")}
    with pytest.raises(RaidError, match="expected an in-sync member"):
        refuse_rotate_out(view(tmp_path, devices=devs), "/dev/vdc")


def test_rotate_out_refuses_an_unknown_member_listing_the_members(tmp_path: Path) -> None:
    with pytest.raises(RaidError) as caught:
        refuse_rotate_out(view(tmp_path), "deadbeef:0:0:0")
    assert "no member 'deadbeef:0:0:0'" in str(caught.value)
    assert MEMBER_C in str(caught.value) and "/dev/vda" in str(caught.value)


def test_rotate_out_refuses_a_fixed_slot_when_rotating_slots_are_set(tmp_path: Path) -> None:
    with pytest.raises(RaidError, match=r"not in a rotating slot \[2\]"):
        refuse_rotate_out(view(tmp_path), "/dev/vda")


OUT = {"vda": ("in_sync", "0"), "vdb": ("in_sync", "1")}


def test_an_empty_rotating_slot_is_expected_an_empty_fixed_slot_is_degraded(tmp_path: Path) -> None:
    v = view(tmp_path / "a", devices=OUT, degraded="1")
    assert v.verdict == "clean" and v.empty_slots == [2]
    assert "slot 2: empty, a rotating slot (expected)" in v.notes
    v = view(tmp_path / "b", devices=OUT, degraded="1", rotating=())
    assert v.verdict == "degraded" and "not a rotating slot (degraded)" in v.notes[0]


def test_rotate_in_accepts_a_blank_disk_or_a_returning_one(tmp_path: Path) -> None:
    v = view(tmp_path, devices=OUT, degraded="1")
    refuse_rotate_in(v, "/dev/vdd", None, {"vda", "vdb"})
    refuse_rotate_in(v, "/dev/vdc", detail.Examine(UUID, MEMBER_C, 12, "raid1", 3), {"vda", "vdb"})


def test_rotate_in_refuses_a_disk_of_another_array(tmp_path: Path) -> None:
    v = view(tmp_path, devices=OUT, degraded="1")
    with pytest.raises(RaidError) as caught:
        refuse_rotate_in(v, "/dev/sde", detail.Examine(OTHER, None, 3, "raid1", 2), set())
    assert "another array (" + OTHER + ")" in str(caught.value) and "/dev/sde" in str(caught.value)


def test_rotate_in_refuses_a_member_of_a_running_array(tmp_path: Path) -> None:
    v = view(tmp_path, devices=OUT, degraded="1")
    with pytest.raises(RaidError, match="member of a running array"):
        refuse_rotate_in(v, "/dev/sdf", None, {"vda", "vdb", "sdf"})


def test_rotate_in_refuses_a_full_array(tmp_path: Path) -> None:
    with pytest.raises(RaidError, match="no empty slot for /dev/vdd"):
        refuse_rotate_in(view(tmp_path), "/dev/vdd", None, set())


def test_rotate_in_refuses_while_syncing(tmp_path: Path) -> None:
    v = view(tmp_path, devices=OUT, degraded="1", sync_action="recover")
    with pytest.raises(RaidError, match="recover running; expected idle before adding /dev/vdd"):
        refuse_rotate_in(v, "/dev/vdd", None, set())


def test_the_estimate_is_what_is_left_over_the_mdstat_speed(tmp_path: Path) -> None:
    v = view(tmp_path, progress=True, sync_action="recover")
    assert estimate_seconds(v) == pytest.approx((7168 - 512) / 512)
    idle = view(tmp_path / "idle", devices=OUT)
    assert estimate_seconds(idle, default_speed_kib=1000) == pytest.approx(7.168)
