"""Install's grouped durability (layout/staged.py): from GROUP_FROM files on, every new file
is written under its temporary name, all are synced at once, then renamed into place and
synced again; never a system file renamed into place before its data was synced. A kill
before the renames leaves the old system and temporary files that the next cycle removes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import states
from tests.scenarios.test_transactions import cli_cycle

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import durable, staged, tempnames
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.install import install

Cycle = Callable[[str], CycleReport]
EQUAL = {"SEC1": "equal", "SEC2": "equal"}
MANY = [f"/etc/app/grouped/f{i:03}.conf" for i in range(staged.GROUP_FROM + 24)]


def _write_on_a(group: SimGroup, paths: list[str], version: str) -> None:
    for path in paths:
        target = group.servers["A"].file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{path} {version}\n")


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if tempnames.is_temp(p.name)]


class Calls:
    """The real syscalls, counted, and what the system held at the first rename."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root, self.syncfs, self.fsyncs = str(root), 0, 0
        self.at_first_rename: tuple[int, int] | None = None  # (syncfs so far, temp files)
        real_syncfs, real_fsync, real_replace = durable.syncfs, os.fsync, os.replace

        def syncfs(fd: int) -> None:
            self.syncfs += 1
            real_syncfs(fd)

        def fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(self.root + "/"):
                self.fsyncs += 1
            real_fsync(fd)

        def replace(src: str | Path, dst: str | Path) -> None:
            if self.at_first_rename is None and str(dst).startswith(self.root + "/etc/app/"):
                self.at_first_rename = (self.syncfs, len(_temp_files(root / "etc/app/grouped")))
            real_replace(src, dst)

        monkeypatch.setattr(durable, "syncfs", syncfs)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(staged.os, "replace", replace)


def _b_with_old_files(group: SimGroup, run_cycle: Cycle, paths: list[str]) -> Path:
    """B's PRI area holds `paths` at v1 (valid) while B's system holds them at v0."""
    _write_on_a(group, paths, "v1")
    assert states(run_cycle("A")) == EQUAL
    b = group.servers["B"]
    for path in paths:
        b.file(path).write_text(f"{path} v0\n")
    return b.root


def test_many_files_are_synced_once_before_any_is_renamed_into_place(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _b_with_old_files(group, run_cycle, MANY)
    calls = Calls(monkeypatch, root)
    changed = install(group.servers["B"].server(lambda _line: None))
    assert set(MANY) <= set(changed)
    # at the first rename: one syncfs done, and every new file there under its temporary name
    assert calls.at_first_rename == (1, len(MANY))
    assert calls.syncfs == 2  # ... and one more after the renames, before the hooks
    assert calls.fsyncs == 0  # no fsync per file in the system root
    b = group.servers["B"]
    assert all(b.file(p).read_text() == f"{p} v1\n" for p in MANY)
    assert _temp_files(root) == []


def test_a_few_files_are_each_written_durably_without_a_syncfs(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = MANY[: staged.GROUP_FROM - 1]
    root = _b_with_old_files(group, run_cycle, few)
    calls = Calls(monkeypatch, root)
    install(group.servers["B"].server(lambda _line: None))
    assert calls.syncfs == 0  # a syncfs would write out the whole filesystem's dirty pages
    assert calls.fsyncs >= 2 * len(few)  # each file and its directory, as atomic_write does
    assert all(group.servers["B"].file(p).read_text() == f"{p} v1\n" for p in few)


def test_a_kill_before_the_renames_leaves_the_old_system_and_the_next_cycle_repairs(
    group: SimGroup, run_cycle: Cycle
) -> None:
    _write_on_a(group, MANY, "v0")
    assert states(run_cycle("A")) == EQUAL
    _write_on_a(group, MANY, "v1")
    done = cli_cycle(group, "A", "B:install.staged=kill")
    assert "B" not in done.stdout or "NOT SYNCED" in done.stdout
    b = group.servers["B"]
    root = b.root
    assert all(b.file(p).read_text() == f"{p} v0\n" for p in MANY)  # not one renamed
    left = _temp_files(root / "etc/app/grouped")
    assert len(left) == len(MANY)  # the fault happened: every new file written, none named
    assert all((root / "etc/app/grouped" / p.name).exists() for p in left)
    assert states(run_cycle("A")) == EQUAL
    assert all(b.file(p).read_text() == f"{p} v1\n" for p in MANY)
    assert _temp_files(root) == []  # the dead writer's temporary files are gone
