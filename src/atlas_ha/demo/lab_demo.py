"""`atlas-ha demo` on the lab: the seed's scenarios across network namespaces, over ssh, with
real nginx and PostgreSQL, narrated with what the client sees at each step."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from atlas_ha.demo import scenarios
from atlas_ha.lab import client, postgres
from atlas_ha.lab.lab import Lab


def say(text: str = "") -> None:
    print(text, flush=True)


def lab_possible() -> str | None:
    """ "netns" as root with iproute2, "loopback" without root, None without sshd and nginx."""
    if not all(Path(t).exists() for t in ("/usr/sbin/sshd", "/usr/sbin/nginx")):
        return None
    return "netns" if os.geteuid() == 0 and shutil.which("ip") else "loopback"


def show(lab: Lab) -> None:
    """Who holds which disk, role and address; each disk's SEVs; what the client sees."""
    servers = {s["name"]: s for s in lab.status()["servers"]}
    for s in servers.values():
        say(
            f"  {s['name']}: Env{s['env']} {s['state']:<4} disk {s['disk'] or '-':<7} role "
            f"{s['role'] or '-':<4} address {s['address'] or '-'}"
        )
    scenarios.show(lab.group, lambda name: servers[name]["state"] == "up")
    pri = lab.addresses["PRI"]
    holder = next((s["name"] for s in servers.values() if s["address"] == pri), None)
    status, _h, body = client.http(lab, pri)
    page = body.strip() if status == 200 else f"no page (HTTP {status})"
    code, rows, _err = (
        client.sql(lab, pri, "SELECT name FROM customers ORDER BY id")
        if postgres.available()
        else (1, [], "")
    )
    say(f"  client -> {pri} answered by {holder}: {page}; rows {rows if code == 0 else '-'}")


def cycle(lab: Lab, name: str) -> dict[str, Any]:
    report = lab.cycle(name)
    for s in report["secs"]:
        if not s["reached"]:
            say(f"  {s['sec']}: NOT SYNCED ({s['error'][:90]})")
            continue
        r = s["reply"]
        installed = r["installed"]
        if len(installed) > 4:
            installed = f"{len(installed)} files ({', '.join(installed[:3])}, ...)"
        say(
            f"  {s['sec']}: converted PRI up to {r['converted_pri'] or 'nothing'}, installed "
            f"{installed or 'nothing new'}, created ({r['role']},{r['env']}), converted "
            f"down to {r['converted_down'] or 'nothing'}, sent back"
        )
    for c in report["compare"]:
        say(f"  compare {c['sec']} at Env{c['env']}: {c['state']} {c['note'][:80]}")
    show(lab)
    return report


def verifier(lab: Lab) -> None:
    """One Verifier round on every running server: go/no-go, and what is not OK."""
    if lab.mode.name == "loopback":
        # the synced site and services file carry no per-server ports there (several
        # servers share one host), so the http and PostgreSQL checks would look elsewhere
        say("  (Verifier rounds: shown in the namespace lab only)")
        return
    for s in lab.status()["servers"]:
        if s["state"] != "up":
            continue
        rows = lab.verify(s["name"])
        bad = [r for r in rows if r["profile"]["status"] != "OK"]
        verdict = "all OK" if not bad else f"{len(bad)} not OK"
        say(f"  verifier on {s['name']} ({s['role']}): {len(rows)} checks, {verdict}")
        for r in bad:
            p = r["profile"]
            say(f"    {r['service']}@{r['target_role']}: {p['status']} {p['summary'][:90]}")


def run_lab_demo(base: Path, down: bool, loopback: bool = False) -> int:
    lab = Lab(base)
    if lab.state_file.exists():
        say(f"(taking down the previous lab in {base})")
        lab.down()
    if base.exists():
        shutil.rmtree(base)
    lab = Lab(base, loopback=loopback)
    if loopback:
        used = [lab.addresses[r] for r in ("PRI", "SEC1", "SEC2")]
        say(
            f"Note: no network namespaces (not root): the servers use loopback addresses "
            f"{', '.join(used)} and unprivileged ports (ssh {lab.mode.ssh_port}, http "
            f"{lab.mode.http_port}, PostgreSQL {lab.mode.pg_port})."
        )
    where = "loopback addresses" if loopback else "namespaces"
    say(
        f"== lab up in {base}: A Env2 PRI, B Env1 SEC1, C Env3 SEC2 ({where}, sshd, "
        "nginx, PostgreSQL)"
    )
    try:
        ok = scenarios_on(lab)
    except BaseException:
        if down:
            lab.down()
        else:
            say(f"\n(the lab is left up to look into: atlas-ha lab --dir {base} down)")
        raise
    if down:
        lab.down()
        say("\nlab taken down.")
    else:
        say(
            f"\nThe lab stays up. Explore: atlas-ha lab --dir {base} status; "
            f"atlas-ha lab --dir {base} exec C -- ip -4 addr; take it down with "
            f"atlas-ha lab --dir {base} down"
        )
    say(json.dumps({"all_equal": ok}))
    return 0 if ok else 20


def scenarios_on(lab: Lab) -> bool:
    """The steady state and Scenarios 1-3 (SPEC 11); True when the last compare is equal."""
    lab.up({"A": 2, "B": 1, "C": 3}, {"A": "PRI", "B": "SEC1", "C": "SEC2"})
    show(lab)
    say("\n== Steady state: one SyncCycle from A, over ssh")
    cycle(lab, "A")
    verifier(lab)
    say("\n== Scenario 1: A needs service; its disk goes into B, which boots as PRI")
    lab.shutdown("A", "B")
    disk_a, disk_b = lab.unplug("A"), lab.unplug("B")
    lab.plug(disk_a, "B")
    for line in lab.boot("B"):
        say(f"  {line}")
    show(lab)
    cycle(lab, "B")
    verifier(lab)
    say("\n== Scenario 2: A repaired, gets B's old disk and returns as SEC1")
    lab.plug(disk_b, "A")
    for line in lab.boot("A"):
        say(f"  {line}")
    cycle(lab, "B")
    verifier(lab)
    say("\n== Scenario 3: B and C swap disks; C (Env3) becomes PRI")
    lab.swap("B", "C")
    show(lab)
    report = cycle(lab, "C")
    verifier(lab)
    return all(c["state"] == "equal" for c in report["compare"])
