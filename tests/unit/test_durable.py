"""Grouped durability (layout.durable): writes into an invalid area skip their fsyncs, and no
area becomes valid (a flag cleared, a SnapshotEnvVersion written) before one syncfs.

The fsync and syncfs calls are counted by wrapping the real ones (they still run): a crash
cannot be simulated in a unit test, the order of the calls can be checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas_ha.errors import FlagWriteError, InjectedFault
from atlas_ha.faults import Faults
from atlas_ha.layout import durable
from atlas_ha.layout.areawrite import AreaWriter
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sid import INVALID_SEND, INVALID_SNAPSHOT, SidData

Calls = list[tuple[str, str]]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every fsync (of which path) and syncfs, in order; the real calls still run."""
    seen: Calls = []
    real_fsync, real_flush = os.fsync, durable.flush

    def fsync(fd: int) -> None:
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def flush(directory: Path) -> None:
        seen.append(("syncfs", str(directory)))
        real_flush(directory)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(durable, "flush", flush)
    return seen


def test_writes_into_a_flagged_area_skip_fsync_until_the_flag_is_cleared(
    tmp_path: Path, calls: Calls
) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 2)
    area = sid.area("PRI", 2)
    sid.set_flag(area, INVALID_SNAPSHOT)
    flagged = len(calls)
    assert any(INVALID_SNAPSHOT in p for _op, p in calls)  # the flag itself: durable
    for i in range(20):
        atomic_write(area.path / "SyncFiles" / "etc" / f"f{i}", b"x")
    assert calls[flagged:] == []  # no fsync per file or directory while invalid
    sid.clear_flag(area, INVALID_SNAPSHOT)
    assert calls[flagged][0] == "syncfs"  # first the syncfs, then the flag's removal
    assert sid.is_valid("PRI", 2)
    before = len(calls)
    atomic_write(area.path / "SyncFiles" / "etc" / "f0", b"y")  # a valid area: durable again
    assert [op for op, _p in calls[before:]] == ["fsync", "fsync"]


def test_the_flag_is_still_present_when_the_syncfs_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    area = sid.area("SEC1", 1)
    sid.set_flag(area, INVALID_SEND)
    present: list[bool] = []
    monkeypatch.setattr(
        durable, "flush", lambda _d: present.append((area.path / INVALID_SEND).exists())
    )
    sid.clear_flag(area, INVALID_SEND)
    assert present == [True]
    assert not (area.path / INVALID_SEND).exists()


def test_a_failed_syncfs_leaves_the_flag_and_the_area_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 1)
    area = sid.area("PRI", 1)
    sid.set_flag(area, INVALID_SEND)

    def failing(_directory: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable, "flush", failing)
    with pytest.raises(FlagWriteError, match="syncfs"):
        sid.clear_flag(area, INVALID_SEND)
    assert area.has_flag(INVALID_SEND) and not sid.is_valid("PRI", 1)
    with pytest.raises(FlagWriteError, match="SnapshotEnvVersion not written"):
        sid.set_sev("PRI", 1)


def test_writing_a_snapshot_env_version_syncs_first(tmp_path: Path, calls: Calls) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", None)
    assert [op for op, _p in calls if op == "syncfs"] == []  # clearing makes nothing valid
    calls.clear()
    sid.set_sev("PRI", 3)
    assert calls[0][0] == "syncfs" and sid.sev("PRI") == 3


def test_areas_newer_than_sev_are_written_deferred_and_valid_ones_are_not(
    tmp_path: Path, calls: Calls
) -> None:
    """ConvertToNewer writes Env<V> above SnapshotEnvVersion: invalid, so deferred."""
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 1)
    for v in (1, 2):
        sid.area("PRI", v).path.mkdir(parents=True)
    calls.clear()
    atomic_write(sid.area("PRI", 2).path / "Manifest", b"m")
    assert calls == []
    atomic_write(sid.area("PRI", 1).path / "Manifest", b"m")  # valid: fsynced
    assert [op for op, _p in calls] == ["fsync", "fsync"]
    calls.clear()
    atomic_write(sid.area("PRI", 3).path / "Manifest", b"m")  # a new area above SEV too
    assert calls == []
    sid.set_sev("PRI", 3)
    calls.clear()
    atomic_write(sid.area("SEC1", 2).path / "Manifest", b"m")  # no SEV: invalid
    assert calls == []
    atomic_write(sid.area("PRI", 1).path / "SyncFiles" / "x", b"x")  # Env1 <= SEV: valid
    assert [op for op, _p in calls] == ["fsync", "fsync"]
    calls.clear()
    atomic_write(sid.root / "PRI" / "notes", b"n")  # not inside an area: durable
    assert [op for op, _p in calls] == ["fsync", "fsync"]


def test_a_flag_cleared_by_another_process_ends_the_deferral(tmp_path: Path, calls: Calls) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 1)
    area = sid.area("PRI", 1)
    sid.set_flag(area, INVALID_SNAPSHOT)
    (area.path / INVALID_SNAPSHOT).unlink()  # as another process would have
    calls.clear()
    atomic_write(area.path / "Manifest", b"m")
    assert [op for op, _p in calls] == ["fsync", "fsync"]


def test_area_writer_defers_in_a_flagged_area(tmp_path: Path, calls: Calls) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 1)
    area = sid.area("PRI", 1)
    sid.set_flag(area, INVALID_SEND)
    calls.clear()
    meta = (0o644, os.getuid(), os.getgid(), 0)
    with AreaWriter(str(area.path), "test") as writer:
        writer.write_file(["SyncFiles", "etc", "a"], b"a", meta)
    assert calls == []
    sid.clear_flag(area, INVALID_SEND)
    assert calls[0][0] == "syncfs"
    calls.clear()
    with AreaWriter(str(area.path), "test") as writer:  # no flag: each file fsynced
        writer.write_file(["SyncFiles", "etc", "b"], b"b", meta)
    assert [op for op, _p in calls] == ["fsync"]


def test_the_fault_point_before_the_syncfs(tmp_path: Path) -> None:
    sid = SidData(tmp_path / "SID_DATA", Faults("durable.flush=raise"))
    area = sid.area("PRI", 1)
    sid.set_flag(area, INVALID_SEND)
    with pytest.raises(InjectedFault):
        sid.clear_flag(area, INVALID_SEND)
    assert area.has_flag(INVALID_SEND)
    assert "durable.flush" in sid.faults.seen


def test_syncfs_reports_a_bad_descriptor() -> None:
    with pytest.raises(OSError, match="syncfs"):
        durable.syncfs(987654)


def test_an_area_s_validity_is_looked_up_once_per_change_not_once_per_file(
    tmp_path: Path, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = SidData(tmp_path / "SID_DATA")
    area = sid.area("PRI", 2)
    sid.set_flag(area, INVALID_SNAPSHOT)
    looked: list[str] = []
    real_flags = type(area).flags
    monkeypatch.setattr(type(area), "flags", lambda a: looked.append(a.path.name) or real_flags(a))
    calls.clear()
    for i in range(50):
        atomic_write(area.path / "SyncFiles" / "etc" / f"f{i}", b"x")
    assert calls == [] and looked == ["Env2"]  # deferred, and one look for the 50 writes


def test_no_remembered_invalid_outlives_a_snapshot_env_version_that_makes_the_area_valid(
    tmp_path: Path, calls: Calls
) -> None:
    """ConvertToNewer: Env2 above SnapshotEnvVersion is written deferred, then SEV := 2."""
    sid = SidData(tmp_path / "SID_DATA")
    sid.set_sev("PRI", 1)
    target = sid.area("PRI", 2).path
    target.mkdir(parents=True)
    calls.clear()
    atomic_write(target / "Manifest", b"m")
    assert calls == []  # invalid: deferred (and remembered)
    sid.set_sev("PRI", 2)
    calls.clear()
    atomic_write(target / "Manifest", b"n")  # valid now: durable again
    assert [op for op, _p in calls] == ["fsync", "fsync"]
