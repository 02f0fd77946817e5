"""The campaign's checker reads a disk as one state: a PRI killed mid-cycle leaves each SEC's
session finishing its SyncUp, whose Create rewrites the SEC's own (R, E) while the checker
reads that disk. Without the disk's locks, validity read before that Create and files read
after it made two valid areas of SEC2 on disk C "hold different files" (the kill campaign's
attempt 24 of seed 20261201 in the full CI, commit a5ec35b): a moment no reader of
atlas-ha ever sees, since each holds the cycle lock the SyncUp holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from tests.faults import checker

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.sid import SidData
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import cycle

TRACKED = ["/etc/app/app.conf"]


def quiet(_line: str) -> None:
    pass


def test_a_syncup_still_running_is_waited_for_not_read_half_way(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    assert c.sid.valid_envs("SEC2") == [1, 2, 3]
    c_sim = group.servers["C"]
    before = c.sid.area("SEC2", 3).copy_path("SyncFiles", TRACKED[0]).read_bytes()
    c_sim.file(TRACKED[0]).write_bytes(b"installed by the SyncUp the dead PRI asked for\n")

    def syncup_goes_on() -> None:  # what the SEC's session does meanwhile, under its lock
        with c.sid.lock("cycle"):
            create(c, "SEC2")

    writer, started = threading.Thread(target=syncup_goes_on), []
    real: Callable[[SidData, str], list[int]] = SidData.valid_envs

    def listed_then_written(sid: SidData, role: str) -> list[int]:
        """The checker's list of valid areas, then the SEC's Create (within 2 s, unless a
        lock holds it back) before the checker reads their files."""
        found = real(sid, role)
        if sid.root.resolve() == c.sid.root.resolve() and role == "SEC2" and not started:
            started.append(True)
            writer.start()
            writer.join(timeout=2)
        return found

    monkeypatch.setattr(SidData, "valid_envs", listed_then_written)
    problems = checker.area_problems(group, TRACKED)
    writer.join(timeout=60)
    monkeypatch.undo()
    assert not writer.is_alive()
    after = c.sid.area("SEC2", 3).copy_path("SyncFiles", TRACKED[0]).read_bytes()
    assert after != before, "the SEC's Create did not run: nothing was shown"
    assert problems == []
    assert c.sid.valid_envs("SEC2") == []  # until its ConvertToOlder: InvalidVersions in Env3
    assert checker.area_problems(group, TRACKED) == []


def test_a_lock_held_too_long_is_a_problem_not_a_hang(group: SimGroup) -> None:
    c = group.servers["C"].server(quiet)
    with c.sid.lock("cycle"), checker.disk_locks(c.sid, wait=0.3) as held:
        assert not held
    with checker.disk_locks(c.sid, wait=0.3) as held:
        assert held
