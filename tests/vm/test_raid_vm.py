"""The rotation against real md RAID1 and real mdadm in a QEMU guest (tests/vm/guest.py):
atlas-ha's own `raid` commands run inside the guest (this interpreter and the source tree
copied into its initramfs); the host parses what the guest printed with the same parsers and
checks the rotation's invariants. Slow (~1 min under TCG); skips when qemu, mdadm, busybox
or a Debian kernel package is missing (.ci/setup installs them)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from tests.vm import guest

import atlas_ha
from atlas_ha.raid import detail, mdstat, sysfs

pytestmark = [pytest.mark.slow, pytest.mark.vm]
SCRIPT = Path(__file__).with_name("rotation.sh")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "raid" / "real"


def sysfs_tree(text: str, root: Path) -> Path:
    """The `name=value` lines the guest printed, as a sysfs tree under `root`."""
    md = root / "block" / "md0" / "md"
    for line in text.splitlines():
        name, _, value = line.partition("=")
        (md / name).parent.mkdir(parents=True, exist_ok=True)
        (md / name).write_text(value + "\n")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    why = guest.missing()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("raid-vm")
    console = guest.run(
        work, SCRIPT.read_text(), disks=5, timeout=600, src=Path(atlas_ha.__file__).parents[1]
    )
    found = guest.sections(console)
    if "record" not in found:
        pytest.fail(f"the guest did not finish; console:\n{console[-4000:]}")
    if os.environ.get("RAID_VM_SAVE_FIXTURES"):  # refresh tests/fixtures/raid/real
        shutil.rmtree(FIXTURES, ignore_errors=True)
        FIXTURES.mkdir(parents=True)
        for name, (text, _rc) in found.items():
            (FIXTURES / f"{name}.txt").write_text(text)
    return found


def state(
    run: dict[str, tuple[str, int]], name: str, tmp: Path
) -> tuple[mdstat.Array, sysfs.MdSysfs, detail.Detail]:
    stat = mdstat.parse(run[f"{name}.mdstat"][0], f"{name}.mdstat")
    array = stat.array("md0")
    assert array is not None
    sys = sysfs.read(sysfs_tree(run[f"{name}.sysfs"][0], tmp / name), "md0")
    return array, sys, detail.parse_detail(run[f"{name}.detail"][0])


def as_json(run: dict[str, tuple[str, int]], name: str) -> dict:  # type: ignore[type-arg]
    text, rc = run[name]
    assert rc == 0, text
    return json.loads(text)  # type: ignore[no-any-return]


def test_a_resyncing_array_is_refused(run: dict[str, tuple[str, int]], tmp_path: Path) -> None:
    array, sys, _ = state(run, "resyncing", tmp_path)
    assert array.progress is not None and array.progress.action == "resync"
    assert sys.sync_action == "resync"
    text, rc = run["refuse-syncing"]
    assert rc == 46 and "md0" in text and "resync running" in text and "expected idle" in text


def test_rotate_out_records_the_member_uuid_and_event_count(
    run: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    before = detail.parse_examine(run["examine-vdc-before"][0])
    removed = as_json(run, "rotate-out-vdc")["removed"]
    assert removed["member_uuid"] == before.dev_uuid
    assert removed["events"] == before.events and removed["slot"] == 2
    array, sys, info = state(run, "out-vdc", tmp_path)
    assert (array.raid_disks, array.working, array.status) == (3, 2, "UU_")
    assert sys.device("vdc") is None and info.member("/dev/vdc") is None
    status = as_json(run, "status-out")[0]
    assert status["verdict"] == "clean"  # the empty rotating slot is expected, not degraded
    assert [s["expected_empty"] for s in status["slots"]] == [False, False, True]


def test_a_removal_leaving_one_mirror_is_refused(run: dict[str, tuple[str, int]]) -> None:
    text, rc = run["refuse-last"]
    assert rc == 46 and "would leave 1 in-sync member" in text and "/dev/vdb" in text


def test_a_disk_of_another_array_is_refused(run: dict[str, tuple[str, int]]) -> None:
    text, rc = run["refuse-other-array"]
    assert rc == 46 and "another array" in text and "/dev/vde" in text


def test_rotate_in_recovers_fully_with_an_estimate(
    run: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    added = as_json(run, "rotate-in-vdd")
    assert added["estimate_seconds"] > 0
    array, sys, _ = state(run, "recovering", tmp_path)
    assert array.progress is not None and array.progress.action == "recovery"
    assert sys.sync_action == "recover"
    status = as_json(run, "status-recovering")[0]
    assert status["verdict"] == "syncing" and status["estimate_seconds"] > 0
    array, sys, _ = state(run, "in-vdd", tmp_path)
    assert array.status == "UUU" and sys.device("vdd") and sys.device("vdd").in_sync  # type: ignore[union-attr]


def test_a_check_after_the_recovery_finds_no_mismatch(
    run: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    assert as_json(run, "check-vdd")["mismatch_cnt"] == 0
    _, sys, _ = state(run, "checked-vdd", tmp_path)
    assert sys.last_sync_action == "check" and sys.mismatch_cnt == 0


def test_a_returning_stale_disk_is_wiped_and_added_as_new(
    run: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    stale = detail.parse_examine(run["examine-vdc-stale"][0])
    first_out = as_json(run, "rotate-out-vdc")["removed"]
    assert stale.dev_uuid == first_out["member_uuid"] and stale.events == first_out["events"]
    result = as_json(run, "rotate-in-vdc")
    assert result["added"]["previous_member_uuid"] == stale.dev_uuid
    assert result["check"]["mismatch_cnt"] == 0
    final = as_json(run, "status-final")[0]
    vdc = next(s for s in final["slots"] if s["device"] == "/dev/vdc")
    # a new member UUID: its superblock was written anew (--add), not taken back (--re-add)
    assert vdc["member_uuid"] != stale.dev_uuid and vdc["events"] > stale.events
    assert final["verdict"] == "clean" and final["mismatch_cnt"] == 0
    array, _, _ = state(run, "in-vdc", tmp_path)
    assert array.status == "UUU"


def test_the_record_holds_every_step(run: dict[str, tuple[str, int]]) -> None:
    record = json.loads(run["record"][0])
    kinds = [e["kind"] for e in record["arrays"]["md0"]]
    assert kinds == ["rotate-out", "rotate-in", "check", "rotate-out", "rotate-in", "check"]
