"""What a killed writer leaves behind (temporary files, ssh connection directories) is
removed at the next start when its process is dead, and never while it lives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from tests.conftest import dead_pid

from atlas_ha.errors import ServerStateError
from atlas_ha.layout import objects, rundir, tempnames
from atlas_ha.layout.atomic import atomic_write


def test_a_write_removes_what_a_dead_writer_of_the_same_file_left(
    tmp_path: Path, live_pid: int
) -> None:
    dead = tmp_path / f".web.json.atlas-tmp.{dead_pid()}"
    live = tmp_path / f".web.json.atlas-tmp.{live_pid}"
    other = tmp_path / f".other.json.atlas-tmp.{dead_pid()}"
    folder = tmp_path / f".web.json.atlas-tmp.{dead_pid()}x"  # not a temp name
    for path in (dead, live, other):
        path.write_text("partial")
    folder.mkdir()
    atomic_write(tmp_path / "web.json", "{}")
    assert (tmp_path / "web.json").read_text() == "{}"
    assert not dead.exists()  # the killed writer's leftover
    assert live.exists()  # a live writer's file is never touched
    assert other.exists()  # another file's: removed by that file's next write (or Create)
    assert folder.is_dir()


def test_a_temp_named_directory_is_never_removed(tmp_path: Path) -> None:
    folder = tmp_path / f".web.json.atlas-tmp.{dead_pid()}"
    folder.mkdir()
    assert tempnames.sweep(tmp_path) == []
    assert folder.is_dir()


def test_creates_walk_skips_temp_files_and_removes_dead_ones(tmp_path: Path, live_pid: int) -> None:
    etc = tmp_path / "etc" / "app"
    (etc / "sub").mkdir(parents=True)
    (etc / "app.conf").write_text("x")
    dead = etc / "sub" / f".app.conf.atlas-tmp.{dead_pid()}"
    live = etc / f".app.conf.atlas-tmp.{live_pid}"
    dead.write_text("partial")
    live.write_text("partial")
    seen = [p for p, _fs, _st in objects.walk(tmp_path, "/etc/app", sweep=True)]
    assert seen == ["/etc/app", "/etc/app/app.conf", "/etc/app/sub"]
    assert not dead.exists() and live.exists()
    # without sweep (validation of what was received) everything is seen, nothing removed
    dead.write_text("partial")
    seen = [p for p, _fs, _st in objects.walk(tmp_path, "/etc/app")]
    assert f"/etc/app/sub/{dead.name}" in seen and dead.exists()


def test_the_next_connection_removes_directories_of_dead_processes(
    short_tmp: Path, live_pid: int
) -> None:
    esd = short_tmp / "esd"
    base = rundir.control_base(esd)
    assert base == esd / "run"  # short enough for a unix socket path
    base.mkdir(parents=True)
    dead = base / f"ssh.{dead_pid()}.abcd1234"
    dead.mkdir()
    (dead / rundir.SOCKET).write_text("")
    (dead / rundir.LOG).write_text("Timeout, server not responding.\n")
    live = base / f"ssh.{live_pid}.abcd1234"
    live.mkdir()
    unrelated = base / "something-else"
    unrelated.mkdir()
    new = rundir.new_control_dir(esd)
    assert not dead.exists()
    assert live.is_dir() and unrelated.is_dir()
    assert new.parent == base and new.name.startswith(f"ssh.{os.getpid()}.")
    assert (new.stat().st_mode & 0o777) == 0o700
    rundir.remove_control_dir(new)
    assert not new.exists()


def test_too_deep_an_esd_data_uses_a_private_directory_of_the_user(
    tmp_path: Path, short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(short_tmp))
    esd = tmp_path / ("d" * 80) / "esd"
    new = rundir.new_control_dir(esd)
    assert new.parent == short_tmp / f"atlas-ha-{os.geteuid()}"
    # ssh binds "<ControlPath>.<16 random>": it must fit a unix socket path (107)
    assert len(str(new / rundir.SOCKET)) + 17 <= 107


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory of another user")
def test_a_shared_directory_made_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"atlas-ha-{os.geteuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    with pytest.raises(ServerStateError, match="not a directory of this user"):
        rundir.new_control_dir(tmp_path / ("d" * 80))
