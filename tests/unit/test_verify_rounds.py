"""The daemon's Verifier schedule (daemon/loop.py verifier_schedule): every planning period
is one run of the wrapper (`verify-round`: its own run id, start checks, a closing line), and
a round that crashes is recorded as a crash and the schedule starts again instead of losing
its thread for good."""

from __future__ import annotations

import threading

import pytest

from atlas_ha.daemon import loop
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import logs
from atlas_ha.ops.crash import store_for
from atlas_ha.verifier import plan as plan_module


def test_a_crashing_round_is_recorded_and_the_verifier_starts_again(
    group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = group.servers["A"].server(lambda _line: None)
    stop = threading.Event()
    calls: list[int] = []
    real_plan = plan_module.plan

    def plan(server: object) -> plan_module.Plan:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("verifier bug")
        stop.set()  # the second round: it plans again, then the daemon stops
        return real_plan(a)

    monkeypatch.setattr(plan_module, "plan", plan)
    monkeypatch.setattr(loop, "RESTART", 0.0)
    lines: list[str] = []
    schedule = loop.verifier_schedule(a, lines.append, replan=60.0)
    worker = threading.Thread(target=schedule, args=(stop,))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and len(calls) == 2  # restarted after the crash
    assert any(
        "verifier round crashed (RuntimeError: verifier bug); restarting" in line for line in lines
    ), lines
    store = store_for(a.settings)
    try:
        (entry,) = store.summaries()
    finally:
        store.close()
    assert "RuntimeError" in str(entry)
    esd = EsdData(a.settings.esd_data)
    rounds = [log for log in logs.log_files(esd) if log.program == "verify-round"]
    text = "\n".join(line for log in rounds for line in logs.lines(log.path))
    ids = {line.split(" ")[2] for line in text.splitlines() if not line.startswith(" ")}
    assert len(ids) == 2, text  # a run id per round
    assert text.count(" start verify-round (local;") == 2
    assert "uncaught RuntimeError: verifier bug" in text
    assert "exit 1 after" in text and "exit 0 after" in text
