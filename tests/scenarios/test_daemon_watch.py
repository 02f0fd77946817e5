"""Change-triggered SyncCycles (daemon/watch.py): the PRI's daemon cycles soon after a synced
path changes, coalesces bursts, and falls back to the periodic cycle when it cannot watch."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from atlas_ha.context import Server
from atlas_ha.daemon.loop import Daemon
from atlas_ha.daemon.watch import ChangeWatch
from atlas_ha.errors import SettingsError
from atlas_ha.faults import Faults
from atlas_ha.lab.group import SimGroup
from atlas_ha.settings import load
from atlas_ha.sync.cycle import cycle

DEBOUNCE = 0.3


class Said:
    """The daemon's log, read by the test while the daemon runs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def cycles(self) -> list[str]:
        with self.lock:
            return [line for line in self.lines if line.startswith("SyncCycle done")]

    def until(self, what: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.05)


@contextmanager
def daemon(server: Server, said: Said, interval: float = 3600) -> Iterator[ChangeWatch]:
    server.log = said
    watch = ChangeWatch(server, DEBOUNCE, said)
    stop = threading.Event()
    thread = threading.Thread(
        target=Daemon(server, interval, log=said, watch=watch).run, args=(stop,)
    )
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def watching(watch: ChangeWatch, directory: Path) -> Callable[[], bool]:
    return lambda: str(directory) in watch._by_dir


def test_a_burst_of_300_changed_files_is_at_most_two_cycles(group: SimGroup) -> None:
    a, b = group.servers["A"], group.servers["B"]
    said = Said()
    assert cycle(a.server(said)).all_equal  # the PRI's area lists /etc/app
    data = a.file("/etc/app/data")
    data.mkdir(parents=True)
    with daemon(a.server(), said) as watch:
        said.until(watching(watch, a.file("/etc/app")))
        for n in range(300):  # a package upgrade writing 300 files
            (data / f"f{n:03}").write_text(f"version 2 of {n}\n")
        said.until(lambda: len(said.cycles()) >= 1)
        time.sleep(DEBOUNCE * 4 + 1)  # a second cycle, if any, has started and is done
        said.until(lambda: not watch.due())
        cycles = said.cycles()
    assert 1 <= len(cycles) <= 2, cycles
    assert "started by a change (" in cycles[0] and "all equal" in cycles[0], cycles
    assert b.file("/etc/app/data/f299").read_text() == "version 2 of 299\n"  # installed


def test_a_new_directory_is_watched_too(group: SimGroup) -> None:
    a, b = group.servers["A"], group.servers["B"]
    said = Said()
    assert cycle(a.server(said)).all_equal
    with daemon(a.server(), said) as watch:
        said.until(watching(watch, a.file("/etc/app")))
        a.file("/etc/app/new").mkdir()
        said.until(watching(watch, a.file("/etc/app/new")))
        said.until(lambda: len(said.cycles()) >= 1)
        said.until(lambda: watch.due() is None)
        done = len(said.cycles())
        a.file("/etc/app/new/site.conf").write_text("listen 8080;\n")
        said.until(lambda: len(said.cycles()) > done)
    assert "started by a change (" in said.cycles()[-1]
    assert b.file("/etc/app/new/site.conf").read_text() == "listen 8080;\n"


def test_the_verifiers_own_test_data_starts_no_cycle(group: SimGroup) -> None:
    """SetUp rewrites its test data (a new token) in every cycle: watching it would make
    every cycle start the next one."""
    a = group.servers["A"]
    services = a.file("/etc/atlas-ha/services.toml")
    services.parent.mkdir(parents=True, exist_ok=True)
    services.write_text('[service.web]\nkind = "http"\n')
    said = Said()
    assert cycle(a.server(said)).all_equal  # SetUp has listed its test data
    with daemon(a.server(), said) as watch:
        said.until(watching(watch, a.file("/etc/atlas-ha")))
        assert watch._quiet, "no test data listed: the test proves nothing"
        services.write_text('[service.web]\nkind = "http"\ntimeout = 4\n')
        said.until(lambda: len(said.cycles()) >= 1)
        time.sleep(DEBOUNCE * 4 + 2)
        said.until(lambda: watch.due() is None)
        cycles = said.cycles()
    assert len(cycles) == 1, cycles


def test_a_watch_limit_reached_falls_back_to_the_periodic_cycle(group: SimGroup) -> None:
    """The limit (fs.inotify.max_user_watches) cannot be lowered here without touching the
    real /proc/sys: the fault point makes inotify_add_watch fail with ENOSPC instead."""
    a = group.servers["A"]
    said = Said()
    assert cycle(a.server(said)).all_equal
    server = a.server()
    server.faults = Faults("watch.add=errno:ENOSPC")
    with daemon(server, said, interval=1.0) as watch:
        said.until(lambda: len(said.cycles()) >= 1)
    assert "watch.add" in server.faults.seen  # the fault happened
    off = [line for line in said.lines if line.startswith("change-triggered SyncCycles off")]
    assert len(off) == 1 and "the inotify watch limit is reached at " in off[0], said.lines
    assert "fs.inotify.max_user_watches" in off[0] and "periodic SyncCycle stays" in off[0]
    assert watch.off is not None
    assert "started by the period (1 s)" in said.cycles()[0]


def test_daemon_settings(tmp_path: Path) -> None:
    config = tmp_path / "atlas-ha.toml"
    base = 'esd_data = "esd"\nsid_data = "sid"\n'
    config.write_text(base)
    assert load(config).daemon.watch and load(config).daemon.debounce == 0.5
    config.write_text(base + "[daemon]\nwatch = false\ndebounce = 2\n")
    assert not load(config).daemon.watch and load(config).daemon.debounce == 2.0
    for bad, said in (
        ('watch = "yes"', "watch = true or false"),
        ("debounce = -1", "debounce = seconds"),
        ("debounced = 1", "unknown keys ['debounced']"),
    ):
        config.write_text(f"{base}[daemon]\n{bad}\n")
        with pytest.raises(SettingsError, match=re.escape(f"{config}: [daemon] {said}")):
            load(config)
