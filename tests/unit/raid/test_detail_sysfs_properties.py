"""Property tests of the `mdadm --export` (raid/detail.py) and md sysfs (raid/sysfs.py)
parsers: what mdadm and the kernel print parses back to what was printed, and any other
text is a result or a FormatError naming where — never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.raid.conftest import make_md

from atlas_ha.errors import FormatError
from atlas_ha.raid import detail, sysfs

hex8 = st.text("0123456789abcdef", min_size=8, max_size=8)
uuids = st.lists(hex8, min_size=4, max_size=4).map(":".join)
kernel_names = st.from_regex(r"\A(sd[a-z]{1,2}[0-9]{0,2}|vd[a-z]|nvme[0-9]n[0-9]p[0-9])\Z")
roles = st.one_of(st.integers(0, 63).map(str), st.sampled_from(sorted(detail.ROLE_WORDS)))
garbage = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(st.characters(whitelist_categories=("Nd", "No")), min_size=1, max_size=4),  # ² etc.
    st.sampled_from(["", "-1", " 7", "0x10", "1e3", "none", "delayed", "5 / ", "1 / 2 / 3"]),
)


@st.composite
def details(draw: st.DrawFn) -> tuple[str, str, int, str, dict[str, str]]:
    level = draw(st.sampled_from(["raid1", "raid5", "raid10", "linear"]))
    devices = draw(st.integers(1, 64))
    uuid = draw(uuids)
    members = draw(st.dictionaries(kernel_names, roles, max_size=6))
    return level, str(devices), devices, uuid, members


def export(level: str, devices: str, uuid: str, members: dict[str, str]) -> str:
    lines = [f"MD_LEVEL={level}", f"MD_DEVICES={devices}", "MD_METADATA=1.2", f"MD_UUID={uuid}"]
    for name, role in members.items():
        lines += [f"MD_DEVICE_dev_{name}_ROLE={role}", f"MD_DEVICE_dev_{name}_DEV=/dev/{name}"]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(details())
def test_detail_round_trips(generated: tuple[str, str, int, str, dict[str, str]]) -> None:
    level, devices_text, devices, uuid, members = generated
    info = detail.parse_detail(export(level, devices_text, uuid, members))
    assert (info.level, info.devices, info.uuid) == (level, devices, uuid)
    got = {m.device: (m.role, m.role_word) for m in info.members}
    assert got == {
        f"/dev/{n}": ((int(r), None) if r.isdigit() else (None, r)) for n, r in members.items()
    }
    slots = [m.role for m in info.members if m.role is not None]
    assert slots == sorted(slots)  # in slot order, spares last


@settings(max_examples=300, deadline=None)
@given(uuids, uuids, st.integers(0, 10**12), st.integers(1, 64))
def test_examine_round_trips(uuid: str, dev_uuid: str, events: int, devices: int) -> None:
    text = (
        f"MD_LEVEL=raid1\nMD_DEVICES={devices}\nMD_UUID={uuid}\nMD_UPDATE_TIME=1733065200\n"
        f"MD_DEV_UUID={dev_uuid}\nMD_EVENTS={events}\n"
    )
    exam = detail.parse_examine(text)
    assert (exam.uuid, exam.dev_uuid, exam.events, exam.devices) == (
        uuid,
        dev_uuid,
        events,
        devices,
    )


@settings(max_examples=500, deadline=None)
@given(
    details(),
    st.lists(st.tuples(st.integers(0, 12), garbage), max_size=4),
)
def test_any_detail_or_examine_text_is_parsed_or_a_format_error(
    generated: tuple[str, str, int, str, dict[str, str]], edits: list[tuple[int, str]]
) -> None:
    level, devices_text, _devices, uuid, members = generated
    lines = export(level, devices_text, uuid, members).splitlines()
    for index, text in edits:  # replace lines, or parts of them, with anything at all
        where = index % (len(lines) + 1)
        if where == len(lines):
            lines.append(text)
        else:
            key = lines[where].split("=", 1)[0]
            lines[where] = f"{key}={text}" if index % 2 else text
    for parse in (detail.parse_detail, detail.parse_examine):
        try:
            parse("\n".join(lines), "gen")
        except FormatError as exc:
            assert str(exc).startswith("gen"), exc


STATES = sorted(sysfs.DEV_STATES)


@st.composite
def md_trees(draw: st.DrawFn) -> dict[str, object]:
    completed = draw(st.none() | st.tuples(st.integers(0, 10**12), st.integers(1, 10**12)))
    devices = draw(
        st.dictionaries(
            kernel_names,
            st.tuples(
                st.lists(st.sampled_from(STATES), max_size=3, unique=True).map(tuple),
                st.none() | st.integers(0, 63),
            ),
            max_size=5,
        )
    )
    return {
        "array_state": draw(st.sampled_from(sorted(sysfs.ARRAY_STATES))),
        "level": draw(st.sampled_from(["raid1", "raid5", "raid10"])),
        "raid_disks": draw(st.integers(0, 64)),
        "degraded": draw(st.integers(0, 64)),
        "sync_action": draw(st.sampled_from(sorted(sysfs.SYNC_ACTIONS))),
        "sync_completed": completed,
        "mismatch_cnt": draw(st.integers(0, 10**12)),
        "last_sync_action": draw(st.sampled_from(["none", "check", "repair", "resync"])),
        "sync_speed": draw(st.none() | st.integers(0, 10**7)),
        "component_size": draw(st.none() | st.integers(0, 10**12)),
        "devices": devices,
    }


def write_tree(root: Path, tree: dict[str, object]) -> None:
    md = root / "block" / "md0" / "md"
    md.mkdir(parents=True)
    completed = tree["sync_completed"]
    values = {
        **{k: str(v) for k, v in tree.items() if k not in ("devices", "sync_completed")},
        "sync_completed": "none" if completed is None else "{} / {}".format(*completed),  # type: ignore[str-format]
        "sync_speed": "none" if tree["sync_speed"] is None else str(tree["sync_speed"]),
        "component_size": "" if tree["component_size"] is None else str(tree["component_size"]),
    }
    for key, value in values.items():
        (md / key).write_text(value + "\n")
    devices: dict[str, tuple[tuple[str, ...], int | None]] = tree["devices"]  # type: ignore[assignment]
    for name, (state, slot) in devices.items():
        (md / f"dev-{name}").mkdir()
        (md / f"dev-{name}" / "state").write_text(",".join(state) + "\n")
        (md / f"dev-{name}" / "slot").write_text(("none" if slot is None else str(slot)) + "\n")


@settings(max_examples=200, deadline=None)
@given(md_trees())
def test_sysfs_round_trips(tree: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), tree)
        got = sysfs.read(Path(tmp), "md0")
    assert (got.array_state, got.level, got.raid_disks, got.degraded) == (
        tree["array_state"],
        tree["level"],
        tree["raid_disks"],
        tree["degraded"],
    )
    assert (got.sync_action, got.sync_completed, got.mismatch_cnt) == (
        tree["sync_action"],
        tree["sync_completed"],
        tree["mismatch_cnt"],
    )
    assert (got.sync_speed, got.size_kib, got.last_sync_action) == (
        tree["sync_speed"],
        tree["component_size"],
        tree["last_sync_action"],
    )
    devices: dict[str, tuple[tuple[str, ...], int | None]] = tree["devices"]  # type: ignore[assignment]
    assert {d.name: (d.state, d.slot) for d in got.devices} == devices


ATTRIBUTES = [
    "array_state",
    "level",
    "raid_disks",
    "degraded",
    "sync_action",
    "sync_completed",
    "mismatch_cnt",
    "sync_speed",
    "component_size",
    "dev-vda/state",
    "dev-vda/slot",
]


@settings(max_examples=500, deadline=None)
@given(
    md_trees(),
    st.lists(
        st.tuples(st.sampled_from(ATTRIBUTES), st.binary(max_size=30) | garbage.map(str.encode)),
        max_size=3,
    ),
)
def test_any_sysfs_value_is_read_or_a_format_error_naming_the_file(
    tree: dict[str, object], edits: list[tuple[str, bytes]]
) -> None:
    tree["devices"] = {"vda": (("in_sync",), 0)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, tree)
        for attribute, data in edits:
            (root / "block" / "md0" / "md" / attribute).write_bytes(data)
        try:
            sysfs.read(root, "md0")
        except FormatError as exc:
            assert str(root / "block" / "md0" / "md") in str(exc), exc


def test_digits_int_refuses_are_a_format_error_not_a_crash(tmp_path: Path) -> None:
    """str.isdigit() takes "²" (and "፩"), int() does not: found by the properties above."""
    text = "MD_LEVEL=raid1\nMD_DEVICES=²\nMD_UUID=cbe1de75:a3de4dde:aa860b9b:51365701\n"
    with pytest.raises(FormatError, match="MD_DEVICES='²': expected a number"):
        detail.parse_detail(text)
    with pytest.raises(FormatError, match="MD_DEVICE_dev_vda_ROLE='²'"):
        detail.parse_detail(text.replace("²", "2") + "MD_DEVICE_dev_vda_ROLE=²\n")
    root = make_md(tmp_path, raid_disks="²")
    with pytest.raises(FormatError, match="raid_disks"):
        sysfs.read(root, "md0")
