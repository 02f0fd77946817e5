"""Type, mode, owner, group, mtime, symlinks, trees and deletions survive
create -> send -> convert -> install (B is Env1, C is Env3: both convert)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from tests.conftest import states

from atlas_ha.lab.group import APP_UID, SimGroup
from atlas_ha.sync.cycle import CycleReport

Cycle = Callable[[str], CycleReport]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owners need root")


def test_metadata_survives_the_cycle(group: SimGroup, run_cycle: Cycle) -> None:
    a = group.servers["A"]
    os.utime(a.file("/etc/app/app.conf"), ns=(1_600_000_000_123_456_789,) * 2)
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    src = a.file("/etc/app/app.conf").lstat()
    for name in "BC":
        sim = group.servers[name]
        st = sim.file("/etc/app/app.conf").lstat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (APP_UID, APP_UID, 0o640)
        assert st.st_mtime_ns == src.st_mtime_ns == 1_600_000_000_123_456_789
        assert os.readlink(sim.file("/etc/app/current")) == "app.conf"
        assert sim.file("/etc/app/conf.d/extra.conf").read_text() == "extra = yes\n"
        assert sim.file("/etc/app/conf.d").is_dir()


def test_changes_and_deletions_propagate(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a = group.servers["A"]
    a.file("/etc/app/conf.d/extra.conf").unlink()
    a.file("/etc/app/current").unlink()
    a.file("/etc/app/current").symlink_to("conf.d")
    a.file("/etc/app/conf.d/new.conf").write_text("new = 1\n")
    os.chmod(a.file("/etc/app/app.conf"), 0o600)
    os.chown(a.file("/etc/app/app.conf"), 0, APP_UID)
    nested = a.file("/etc/app/deep/er")
    nested.mkdir(parents=True)
    (nested / "f").write_text("x\n")
    os.chmod(nested, 0o750)
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for name in "BC":
        sim = group.servers[name]
        assert not sim.file("/etc/app/conf.d/extra.conf").exists()
        assert sim.file("/etc/app/conf.d/new.conf").read_text() == "new = 1\n"
        assert os.readlink(sim.file("/etc/app/current")) == "conf.d"
        st = sim.file("/etc/app/app.conf").stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o600, 0, APP_UID)
        assert sim.file("/etc/app/deep/er").stat().st_mode & 0o7777 == 0o750
    # a whole listed tree removed on the PRI is removed on every SEC
    import shutil

    shutil.rmtree(a.file("/etc/app/deep"))
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for name in "BC":
        assert not group.servers[name].file("/etc/app/deep").exists()


def test_sid_data_is_private(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    for disk in ("disk-A", "disk-B", "disk-C"):
        sid = group.disk(disk) / "SID_DATA"
        assert sid.stat().st_mode & 0o777 == 0o700
        assert (sid / ".git").stat().st_mode & 0o777 == 0o700
    # B's copy of the PRI's shadow-less passwd with hashes stays inside the 0700 tree
    assert (group.disk("disk-B") / "SID_DATA/PRI/Env1/SyncFiles/etc/passwd").exists()
