"""chrony in the lab (issue 13): every server runs chronyd from the synced chrony.conf in its
environment's place (A Env2 and C Env3 /etc/chrony/chrony.conf, B Env1 /etc/chrony.conf),
which names the PRI's address as its server; the time check's `servers` asks that upstream
too. Stopping the PRI's chronyd: the PRI's time check is CRITICAL, a SEC's is a WARNING
naming the unreachable upstream (the SEC still answers from its own clock)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.lab.common import verify_rows
from tests.lab.conftest import running_lab

from atlas_ha.lab import dns_mail, host
from atlas_ha.lab.lab import ADDRESSES, Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
PRI = ADDRESSES["PRI"]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not dns_mail.CHRONYD.exists():
        pytest.skip("needs chrony's chronyd")
    with running_lab("atlas-ha-lab-time-") as up:
        up.cycle("A")
        yield up


def time_rows(lab: Lab, name: str) -> dict[str, dict[str, Any]]:
    return {k: r["profile"] for k, r in verify_rows(lab, name).items() if k.startswith("time")}


def test_secs_take_time_from_the_pri_and_the_time_check_follows_it(lab: Lab) -> None:
    a, b, c = (lab.group.servers[n] for n in "ABC")
    for sim, path in ((a, "/etc/chrony/chrony.conf"), (b, "/etc/chrony.conf")):
        assert f"server {PRI} iburst" in sim.file(path).read_text(), sim.name
        assert f"include {sim.file(path)}\n" in (sim.base / "run/chrony.conf").read_text()
    assert not b.file("/etc/chrony").exists()  # Env1's layout: one file
    assert (
        c.file("/etc/chrony/chrony.conf").read_bytes()
        == a.file("/etc/chrony/chrony.conf").read_bytes()
    )

    deadline = time.monotonic() + 90  # iburst: a few polls until B selects the PRI
    while True:
        rows = time_rows(lab, "A")
        if rows["time@SEC1"]["data"].get("refid") == PRI or time.monotonic() > deadline:
            break
        time.sleep(2)
    sec1 = rows["time@SEC1"]
    assert sec1["status"] == "OK", sec1
    assert sec1["data"]["refid"] == PRI  # B's chronyd is synchronised to the PRI
    assert rows["time:config@PRI"]["status"] == "OK", rows["time:config@PRI"]

    host.stop(lab.servers()["A"]["chronyd_pid"])  # the lab's loop and its chronyd, by PID
    rows = time_rows(lab, "A")
    for sec in ("SEC1", "SEC2"):
        profile = rows[f"time@{sec}"]
        assert profile["status"] == "WARNING", profile
        # asked from the PRI, whose own port 123 is closed now: refused at once
        assert f"upstream {PRI}: Connection refused" in profile["summary"], profile
    pri = time_rows(lab, "B")["time@PRI"]
    assert pri["status"] == "CRITICAL" and "Connection refused" in pri["summary"], pri


def chronyd_pid(lab: Lab, name: str) -> int:
    return int((lab.group.servers[name].base / "run/chronyd.pid").read_text())


def wait_restarted(lab: Lab, name: str, old: int) -> int:
    deadline = time.monotonic() + 20
    while True:
        try:
            pid = chronyd_pid(lab, name)
        except (OSError, ValueError):
            pid = old  # between the old one's exit and the new one's start
        if pid != old:
            return pid
        assert time.monotonic() < deadline, f"{name}'s chronyd was not restarted"
        time.sleep(0.2)


def test_a_changed_chrony_conf_restarts_the_secs_chronyd_and_a_rejected_one_does_not(
    lab: Lab,
) -> None:
    a, b = lab.group.servers["A"], lab.group.servers["B"]
    conf = a.file("/etc/chrony/chrony.conf")
    before = chronyd_pid(lab, "B")
    conf.write_text(conf.read_text() + "maxupdateskew 100.0\n")
    report = lab.cycle("A")
    assert [c["rejected"] for c in report["compare"]] == [[], []]
    assert "maxupdateskew 100.0" in b.file("/etc/chrony.conf").read_text()
    restarted = wait_restarted(lab, "B", before)  # chronyd reads its file only on start

    conf.write_text(conf.read_text() + "acme_unknown_directive 1\n")  # chronyd -p refuses it
    line_no = conf.read_text().count("\n")
    report = lab.cycle("A")
    (pri,) = report["pri_rejected"]  # the PRI's own checker, before Create (reported, synced)
    assert pri.startswith(
        f"time: rejected by chronyd -p on PRI (Env2): /etc/chrony/chrony.conf line {line_no}: "
    ), pri
    sec1 = report["compare"][0]["rejected"]
    assert sec1 and sec1[0].startswith(
        "time: installed but rejected by chronyd -p on SEC1 (Env1): /etc/chrony.conf line "
    ), sec1
    assert "acme_unknown_directive" in b.file("/etc/chrony.conf").read_text()  # installed
    time.sleep(1.5)  # a restart would have happened by now (the loop waits 0.5 s)
    assert chronyd_pid(lab, "B") == restarted  # not reloaded: it runs its last good file
