"""[raid] settings, the rotation record on ESD_DATA, and the `raid` commands' wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.raid.conftest import make_md

from atlas_ha.cli.main import main
from atlas_ha.errors import FormatError, SettingsError
from atlas_ha.layout.esd import EsdData
from atlas_ha.raid.record import Record
from atlas_ha.settings import load


def write_settings(tmp: Path, raid: str) -> Path:
    path = tmp / "atlas-ha.toml"
    path.write_text(f'esd_data = "esd"\nsid_data = "sid"\n{raid}')
    return path


def test_the_raid_table(tmp_path: Path) -> None:
    path = write_settings(
        tmp_path,
        '[raid]\nmdadm = "/opt/mdadm"\nsys = "/x/sys"\npoll = 2\n[raid.rotating]\nmd0 = [2, 3]\n',
    )
    raid = load(path).raid
    assert raid.mdadm == "/opt/mdadm" and raid.sys == Path("/x/sys") and raid.poll == 2.0
    assert raid.rotating == {"md0": (2, 3)} and raid.proc == Path("/proc")
    assert load(write_settings(tmp_path, "")).raid.mdadm == "mdadm"


@pytest.mark.parametrize(
    ("raid", "expected"),
    [
        ("[raid]\nmdam = 'x'\n", r"\[raid\] unknown keys \['mdam'\]"),
        ("[raid]\npoll = 0\n", "poll = seconds"),
        ("[raid.rotating]\nmd0 = ['two']\n", "md0 = a list of slot numbers"),
        ("[raid]\nmdadm = ''\n", "mdadm = a path"),
    ],
)
def test_a_bad_raid_table_is_named(tmp_path: Path, raid: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load(write_settings(tmp_path, raid))


def test_the_record_keeps_events_in_order_and_refuses_a_bad_file(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    record = Record(esd)
    record.add("md0", "rotate-out", member_uuid="u1", events=16, slot=2)
    record.add("md0", "check", mismatch_cnt=0)
    assert [e["kind"] for e in record.events("md0")] == ["rotate-out", "check"]
    assert record.last("md0", "rotate-out")["events"] == 16  # type: ignore[index]
    assert json.loads(esd.raid_record_file.read_text())["version"] == 1
    esd.raid_record_file.write_text('{"version": 1, "arrays": {"md0": [{"kind": "oops"}]}}')
    with pytest.raises(FormatError, match=r"arrays\.md0: expected a list of events"):
        record.load()
    esd.raid_record_file.write_text("{not json")
    with pytest.raises(FormatError, match=r"raid-rotation.json:1: expected JSON"):
        record.load()


def test_status_without_md_arrays_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sys").mkdir()
    config = write_settings(
        tmp_path, f'[raid]\nmdadm = "/nonexistent/mdadm"\nsys = "{tmp_path}/sys"\n'
    )
    assert main(["--config", str(config), "raid", "status"]) == 0
    assert capsys.readouterr().out == "no md arrays\n"


def test_a_missing_mdadm_is_a_raid_error_naming_the_array(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_md(tmp_path / "sys")
    config = write_settings(
        tmp_path, f'[raid]\nmdadm = "/nonexistent/mdadm"\nsys = "{tmp_path}/sys"\n'
    )
    assert (
        main(["--config", str(config), "raid", "rotate-out", "md0", "--member", "/dev/vdc"]) == 46
    )
    err = capsys.readouterr().err
    assert "md0: mdadm --detail --export /dev/md0 failed" in err and "program not found" in err
    assert not EsdData(tmp_path / "esd").raid_record_file.exists()  # nothing recorded
