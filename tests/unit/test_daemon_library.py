"""The library behind `atlas-ha daemon run|restart|units` (daemon/control.py,
daemon/systemd.py): the foreground run claims and releases the PID file, restart gives a new
daemon, the units are written atomically as shipped."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from atlas_ha.daemon import control
from atlas_ha.daemon.loop import Daemon, read_heartbeat
from atlas_ha.daemon.systemd import unit_files, write_units
from atlas_ha.errors import ServerStateError
from atlas_ha.lab.group import SimGroup


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def by_pid_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """running_pid by the PID file alone: this pytest process is not an `atlas-ha daemon run`
    by its command line, which is what the real one checks in /proc."""

    def running_pid(server: object) -> int | None:
        path = control.pid_file(server)  # type: ignore[arg-type]
        return int(path.read_text()) if path.exists() else None

    monkeypatch.setattr(control, "running_pid", running_pid)


@pytest.mark.usefixtures("by_pid_file")
def test_run_claims_the_pid_file_runs_the_loop_and_releases_it(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = group.servers["A"].server(quiet)
    stop = threading.Event()
    seen: list[str] = []
    real_beat = Daemon.beat

    def beat(self: Daemon) -> None:  # the first heartbeat: the daemon runs and holds the file
        seen.append(control.pid_file(a).read_text())
        real_beat(self)
        stop.set()

    monkeypatch.setattr(Daemon, "beat", beat)
    lines: list[str] = []
    control.run(a, 300.0, stop, lines.append, with_verifier=False)
    assert seen[0] == f"{os.getpid()}\n" and not control.pid_file(a).exists()
    assert lines[0] == "doctor: green (15 checks)"  # the preflight (every older Env tested)
    # a test group serves no status page (SimGroup's [report] listen = ""): no line, no ALERT
    assert lines[1:] == ["started; first SyncCycle decision in 300 s", "stopped"]
    assert (read_heartbeat(a) or {}).get("interval") == 300.0


@pytest.mark.usefixtures("by_pid_file")
def test_run_releases_the_pid_file_when_the_loop_fails(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = group.servers["A"].server(quiet)

    def broken(self: Daemon, stop: threading.Event) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Daemon, "run", broken)
    with pytest.raises(OSError, match="No space left"):
        control.run(a, 300.0, threading.Event(), quiet)
    assert not control.pid_file(a).exists()
    control.pid_file(a).write_text("1\n")  # another daemon holds it: no run, file kept
    with pytest.raises(ServerStateError, match=r"a daemon runs already on A \(pid 1\)"):
        control.run(a, 300.0, threading.Event(), quiet)
    assert control.pid_file(a).read_text() == "1\n"


def test_restart_gives_a_new_daemon(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    first = control.start(a, 600.0)
    try:
        second = control.restart(a, 600.0)
        assert second != first and control.running_pid(a) == second
        assert not Path(f"/proc/{first}").exists() or control.running_pid(a) != first
    finally:
        control.stop(a)
    assert control.running_pid(a) is None


def test_units_are_written_as_shipped(tmp_path: Path) -> None:
    units = unit_files()
    assert sorted(units) == ["atlas-ha-identity.service", "atlas-ha.service"]
    assert "ExecStart=/usr/local/bin/atlas-ha daemon run" in units["atlas-ha.service"]
    written = write_units(tmp_path / "systemd")
    assert [p.name for p in written] == sorted(units)
    for path in written:
        assert path.read_text() == units[path.name]
        assert path.stat().st_mode & 0o777 == 0o644


def test_a_test_group_serves_no_page_and_keeps_the_real_default_elsewhere(
    group: SimGroup, tmp_path: Path
) -> None:
    """SimGroup's servers would all ask for 127.0.0.1:8470 (all but the first: an ALERT);
    they serve none, while a group built with report=None keeps the real default."""
    assert not group.servers["A"].server(quiet).settings.web.enabled
    plain = SimGroup(tmp_path / "plain", report=None)
    plain.build({"A": (1, "PRI")})
    assert plain.servers["A"].server(quiet).settings.web.listen == "127.0.0.1:8470"
