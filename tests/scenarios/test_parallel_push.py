"""A send pushes the areas that travel whole at once, one rsync each (sync/send._push),
where the connection allows it; a failed push lets the others run to their end, then fails
the send before receive-commit is asked for."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from atlas_ha.errors import TransportError
from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.send import send_to_partners
from atlas_ha.transport.local import LocalConnection


def quiet(_line: str) -> None:
    pass


def _without_pri_areas(group: SimGroup) -> None:
    """C (SEC2) loses every PRI area: the next send pushes (PRI,1) and (PRI,2) whole."""
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    for v in c.sid.envs("PRI"):
        shutil.rmtree(c.sid.area("PRI", v).path)


def test_the_whole_area_pushes_of_one_send_run_at_once(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_pri_areas(group)
    both = threading.Barrier(2, timeout=15)  # broken, and the push fails, when in series
    real = LocalConnection.push

    def push(self: LocalConnection, source: Path, dest: str) -> None:
        if self.role == "SEC2":
            both.wait()
        real(self, source, dest)

    monkeypatch.setattr(LocalConnection, "push", push)
    sent = send_to_partners(group.servers["A"].server(quiet))
    assert sent["SEC2"].ok, sent["SEC2"].error
    assert sent["SEC2"].sent == [1, 2]
    c = group.servers["C"].server(quiet)
    c.sid.require_valid("PRI", 1)
    c.sid.require_valid("PRI", 2)


def test_a_failed_push_lets_the_other_finish_then_fails_the_send(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_pri_areas(group)
    real = LocalConnection.push
    finished: list[float] = []

    def push(self: LocalConnection, source: Path, dest: str) -> None:
        if self.role != "SEC2":
            real(self, source, dest)
        elif source.name == "Env2":
            raise TransportError("SEC2 at 127.0.2.13: rsync exit 23 (the test's)")
        else:
            time.sleep(1.0)  # still running when the other has failed
            real(self, source, dest)
            finished.append(time.monotonic())

    monkeypatch.setattr(LocalConnection, "push", push)
    sent = send_to_partners(group.servers["A"].server(quiet))
    returned = time.monotonic()
    assert "rsync exit 23 (the test's)" in sent["SEC2"].error
    assert finished and finished[0] <= returned  # no rsync left behind the failed send
    c = group.servers["C"].server(quiet)
    assert not c.sid.is_valid("PRI", 1)  # never committed
    monkeypatch.undo()
    assert cycle(group.servers["A"].server(quiet)).all_equal  # the next cycle repairs it
