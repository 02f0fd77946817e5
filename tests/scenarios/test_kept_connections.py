"""The daemon's connections kept between SyncCycles (transport.keep), on the local transport;
over OpenSSH in tests/lab/test_ssh_transport.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atlas_ha.context import Server
from atlas_ha.errors import SettingsError, TransportError
from atlas_ha.lab.group import SimGroup
from atlas_ha.settings import load
from atlas_ha.sync.cycle import cycle
from atlas_ha.system import Clock
from atlas_ha.transport.base import Connection
from atlas_ha.transport.keep import Kept, KeptConnections, kept_connections


class Log(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


class FakeClock(Clock):
    def __init__(self) -> None:
        self.now_s = 1000.0

    def monotonic(self) -> float:
        return self.now_s


def pri(group: SimGroup) -> tuple[Server, Log]:
    log = Log()
    return group.servers["A"].server(log), log


def kept(keep: KeptConnections, role: str) -> Any:
    return keep._kept[role]


def states(report: Any) -> dict[str, str]:
    return {c.sec: c.state for c in report.compare}


def test_a_kept_connection_is_reused_and_the_sec_verifies_every_hello(group: SimGroup) -> None:
    a, _log = pri(group)
    keep = KeptConnections(Clock())
    assert states(cycle(a, keep)) == {"SEC1": "equal", "SEC2": "equal"}
    first = kept(keep, "SEC1").conn
    assert keep.count() == 2 and first.alive()
    assert states(cycle(a, keep)) == {"SEC1": "equal", "SEC2": "equal"}
    assert kept(keep, "SEC1").conn is first  # the same session: no new start-up
    # the SEC checks the PRI's hello on a kept connection as on a new one
    master = a.sid.master_config_file
    good = master.read_text()
    master.write_text(good.replace("acme-office", "other-office"))
    report = cycle(a, keep)
    assert not any(s.reached for s in report.secs)
    assert all("group" in s.error for s in report.secs), report.secs
    assert keep.count() == 0 and not first.alive()  # a failed cycle keeps nothing
    master.write_text(good)
    keep.close_all()


def test_a_dead_or_failing_kept_connection_is_replaced(group: SimGroup) -> None:
    a, log = pri(group)
    keep = KeptConnections(Clock())
    cycle(a, keep)
    dead = kept(keep, "SEC1").conn
    dead.proc.kill()  # the SEC's session ended between two cycles (a SEC reboot)
    dead.proc.wait()
    assert states(cycle(a, keep)) == {"SEC1": "equal", "SEC2": "equal"}
    assert kept(keep, "SEC1").conn is not dead and kept(keep, "SEC1").conn.alive()

    class Broken(Connection):
        """Looks alive, fails at the first request (a session whose peer went silently)."""

        def __init__(self) -> None:
            super().__init__("SEC2", "x")
            self.closed = False

        def alive(self) -> bool:
            return not self.closed

        def call(self, request: dict[str, Any]) -> dict[str, Any]:
            raise TransportError("SEC2: connection lost")

        def push(self, source: Path, dest: str) -> None:
            raise AssertionError

        def close(self) -> None:
            self.closed = True

    broken = Broken()
    keep.give_back("SEC2", Kept(kept(keep, "SEC2").key, broken, kept(keep, "SEC2").opened))
    assert states(cycle(a, keep)) == {"SEC1": "equal", "SEC2": "equal"}
    assert broken.closed and kept(keep, "SEC2").conn is not broken
    assert any("kept connection to SEC2 failed" in line for line in log)
    keep.close_all()


def test_a_kept_connection_is_renewed_after_its_max_age(group: SimGroup) -> None:
    a, _log = pri(group)
    clock = FakeClock()
    keep = KeptConnections(clock, max_age=60)
    cycle(a, keep)
    first = kept(keep, "SEC1").conn
    clock.now_s += 30
    cycle(a, keep)
    assert kept(keep, "SEC1").conn is first
    clock.now_s += 31  # 61 s since it was opened, though used 31 s ago
    cycle(a, keep)
    assert kept(keep, "SEC1").conn is not first and not first.alive()
    keep.close_all()
    assert keep.count() == 0


def test_without_keep_every_connection_is_closed(group: SimGroup) -> None:
    a, _log = pri(group)
    keep = KeptConnections(Clock(), max_age=0)
    cycle(a, keep)
    assert keep.count() == 0


@pytest.mark.parametrize(
    ("value", "expected"), [("600", 600.0), ("0", None), ("never", "error"), ("-5", "error")]
)
def test_the_keep_setting(group: SimGroup, value: str, expected: object) -> None:
    config = group.servers["A"].config
    config.write_text(config.read_text().replace("[transport]", f'[transport]\nkeep = "{value}"'))
    settings = load(config)
    if expected == "error":
        with pytest.raises(SettingsError, match=rf"{config.name}.*keep = '{value}'"):
            kept_connections(settings, Clock())
        return
    keep = kept_connections(settings, Clock())
    assert (keep.max_age if keep else None) == expected
