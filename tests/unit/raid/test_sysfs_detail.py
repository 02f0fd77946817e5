"""The md sysfs attributes and `mdadm --detail/--examine --export` parsers: real captures
(tests/fixtures/raid/real, from the QEMU guest) and bad values named by file or line."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.raid.conftest import make_md

from atlas_ha.errors import FormatError
from atlas_ha.raid import detail, sysfs

REAL = Path(__file__).parents[2] / "fixtures" / "raid" / "real"


def test_attributes_and_members(tmp_path: Path) -> None:
    root = make_md(
        tmp_path,
        devices={
            "vda": ("in_sync", "0"),
            "vdb": ("in_sync,writemostly", "1"),
            "vdd": ("spare", "none"),
        },
        sync_action="recover",
        sync_completed="4096 / 14336",
        sync_speed="2176",
        degraded="1",
    )
    md = sysfs.read(root, "/dev/md0")
    assert (md.array_state, md.sync_action, md.degraded) == ("clean", "recover", 1)
    assert md.sync_completed == (4096, 14336) and md.syncing and md.sync_speed == 2176
    assert md.device("vdb").state == ("in_sync", "writemostly")  # type: ignore[union-attr]
    assert md.device("/dev/vdd").slot is None and not md.device("vdd").in_sync  # type: ignore[union-attr]
    assert sysfs.arrays(root) == ["md0"]


@pytest.mark.parametrize(
    ("attr", "value", "expected"),
    [
        ("array_state", "on-fire", "expected one of"),
        ("mismatch_cnt", "-1", "expected a number"),
        ("sync_completed", "half", "expected 'none' or 'N / M'"),
        ("dev-vda/slot", "first", "expected a slot number"),
        ("dev-vda/state", "in_sync,haunted", "unknown device state 'haunted'"),
    ],
)
def test_a_bad_value_names_the_attribute(
    tmp_path: Path, attr: str, value: str, expected: str
) -> None:
    root = make_md(tmp_path)
    (root / "block/md0/md" / attr).write_text(value + "\n")
    with pytest.raises(FormatError) as caught:
        sysfs.read(root, "md0")
    assert caught.value.path.endswith(attr) and expected in str(caught.value)


def test_no_md_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="is md9 an md array"):
        sysfs.read(tmp_path, "md9")


DETAIL = """MD_LEVEL=raid1
MD_DEVICES=3
MD_METADATA=1.2
MD_UUID=cbe1de75:a3de4dde:aa860b9b:51365701
MD_NAME=(none):0
MD_DEVICE_dev_vdc_ROLE=2
MD_DEVICE_dev_vdc_DEV=/dev/vdc
MD_DEVICE_dev_vda_ROLE=0
MD_DEVICE_dev_vda_DEV=/dev/vda
MD_DEVICE_dev_sdx1_ROLE=spare
MD_DEVICE_dev_sdx1_DEV=/dev/sdx1
"""
EXAMINE = """MD_LEVEL=raid1
MD_DEVICES=3
MD_NAME=(none):0
MD_ARRAY_SIZE=7.34MB
MD_UUID=cbe1de75:a3de4dde:aa860b9b:51365701
MD_UPDATE_TIME=1796138683
MD_DEV_UUID=f66d422c:e0eaf696:10f0ca17:619f6f48
MD_EVENTS=15
"""


def test_detail_members_with_roles_in_slot_order() -> None:
    info = detail.parse_detail(DETAIL)
    assert (info.level, info.devices, info.uuid) == (
        "raid1",
        3,
        "cbe1de75:a3de4dde:aa860b9b:51365701",
    )
    assert [(m.device, m.role, m.role_word) for m in info.members] == [
        ("/dev/vda", 0, None),
        ("/dev/vdc", 2, None),
        ("/dev/sdx1", None, "spare"),
    ]
    assert info.values["MD_METADATA"] == "1.2"


def test_examine_event_count_and_member_uuid() -> None:
    exam = detail.parse_examine(EXAMINE)
    assert exam.events == 15 and exam.dev_uuid == "f66d422c:e0eaf696:10f0ca17:619f6f48"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MD_LEVEL=raid1\nnot a pair\n", ":2: expected KEY=VALUE"),
        (DETAIL.replace("MD_UUID=cbe1de75:", "MD_UUID=zz:"), "expected 4 groups of 8 hex"),
        (DETAIL.replace("MD_DEVICES=3", "MD_DEVICES=three"), "MD_DEVICES='three'"),
        (DETAIL.replace("ROLE=2", "ROLE=sideways"), ":6: MD_DEVICE_dev_vdc_ROLE='sideways'"),
        (DETAIL.replace("MD_DEVICE_dev_vda_DEV=/dev/vda\n", ""), "expected both _ROLE and _DEV"),
        ("MD_LEVEL=raid1\n", "expected MD_DEVICES="),
    ],
)
def test_bad_detail_output_is_named(text: str, expected: str) -> None:
    with pytest.raises(FormatError) as caught:
        detail.parse_detail(text)
    assert expected in str(caught.value)


def test_examine_without_events_is_refused() -> None:
    with pytest.raises(FormatError, match="expected MD_EVENTS="):
        detail.parse_examine(EXAMINE.replace("MD_EVENTS=15\n", ""))


@pytest.mark.skipif(not REAL.is_dir(), reason="no captures of the QEMU guest")
def test_real_detail_and_examine_outputs_parse() -> None:
    details = sorted(REAL.glob("*.detail.txt"))
    examines = sorted(REAL.glob("examine-*.txt"))
    assert details and examines
    for path in details:
        info = detail.parse_detail(path.read_text(), str(path))
        assert info.level == "raid1" and info.devices == 3 and len(info.members) in (2, 3)
    for path in examines:
        assert detail.parse_examine(path.read_text(), str(path)).events > 0
