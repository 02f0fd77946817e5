"""The seed's scenarios (SPEC 11), narrated: who holds which role, each SnapshotEnvVersion,
what was installed and what Compare found, at every step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atlas_ha.errors import AtlasError
from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.compare import compare
from atlas_ha.sync.convert import convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import CycleReport, cycle
from atlas_ha.sync.send import send_to_partners


def say(text: str = "") -> None:
    print(text, flush=True)


def quiet(_line: str) -> None:
    """Operation logs are summarised by the narration instead."""


def show(group: SimGroup, up: Callable[[str], bool] | None = None) -> None:
    """Each server: up/down, EnvVersion, role, and per role on its disk SEV and valid areas."""
    for name, sim in group.servers.items():
        state = "up  " if (up or group.is_up)(name) else "down"
        try:
            server = sim.server(quiet)
            sid = server.sid
            master = sid.master_config()
            sevs = "  ".join(
                f"SEV[{r}]={sid.sev(r)} valid={[v for v in sid.envs(r) if sid.is_valid(r, v)]}"
                for r in sid.roles()
            )
            say(f"  {name} {state} Env{sim.env} role {master.role:<4} {sevs}")
        except AtlasError as exc:
            say(f"  {name} {state} Env{sim.env} ({exc})")


def boot(group: SimGroup, name: str) -> None:
    result = group.boot(name)
    extra = f"; on-demand ConvertToNewer to Env{result.converted}" if result.converted else ""
    say(f"boot {name}: role {result.role}, {result.note}{extra}")
    for path in result.installed:
        say(f"    installed {path}")


def run_cycle(group: SimGroup, name: str) -> CycleReport:
    report = cycle(group.servers[name].server(quiet))
    say(
        f"SyncCycle from {name} (PRI, Env{report.env}): created (PRI,{report.env}), converted "
        f"down to {report.converted_down or 'nothing'}"
    )
    for outcome in report.secs:
        if outcome.reached:
            r = outcome.reply
            say(
                f"  {outcome.sec}: converted PRI up to {r['converted_pri'] or 'nothing'}, "
                f"installed {len(r['installed'])} changed paths, created ({r['role']},"
                f"{r['env']}), converted down to {r['converted_down'] or 'nothing'}, sent back"
            )
        else:
            say(f"  {outcome.sec}: NOT SYNCED ({outcome.error})")
    for c in report.compare:
        say(f"  compare {c.summary()}")
    show(group)
    return report


def run_demo(base: Path) -> int:
    group = SimGroup(base)
    say(f"== From scratch: A Env2 PRI, B Env1 SEC1, C Env3 SEC2 in {base}")
    group.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in group.servers:
        boot(group, name)
    show(group)
    say("\n== Steady state: one SyncCycle from A")
    run_cycle(group, "A")
    say("\n== Scenario 1: A needs service, B becomes PRI")
    group.shutdown("A", "B")
    disk_a, disk_b = group.unplug("A"), group.unplug("B")
    group.plug(disk_a, "B")
    say(f"A and B shut down; {disk_a} goes into B ({disk_b} set aside)")
    boot(group, "B")
    run_cycle(group, "B")
    say("\n== Scenario 2: A repaired, returns as SEC1")
    group.plug(disk_b, "A")
    say(f"{disk_b} (role SEC1) goes into A")
    boot(group, "A")
    show(group)
    run_cycle(group, "B")
    say("\n== Scenario 3: B and C swap roles")
    group.swap("B", "C")
    boot(group, "B")
    boot(group, "C")
    report = run_cycle(group, "C")
    say("\n== Drift: a local edit on SEC1 (A)")
    drift(group)
    say(
        f"\nDone. The group stays in {base}; explore with "
        f"`atlas-ha --config {base}/servers/C/atlas-ha.toml status`."
    )
    return 0 if report.all_equal else 20


def drift(group: SimGroup) -> None:
    sim = group.servers["A"]
    edited = sim.file("/etc/app/app.conf")
    edited.write_text("level = 9  # edited by hand on A\n")
    server = sim.server(quiet)
    create(server)
    convert_to_older(server, server.role(), server.env_id)
    send_to_partners(server)
    for c in compare(group.servers["C"].server(quiet)):
        say(f"  compare on C: {c.summary()}")
        for d in c.differences:
            say(f"    {d.path}: {d.what}\n      " + d.diff.replace("\n", "\n      "))
    run_cycle(group, "C")
    say(f"  A's /etc/app/app.conf after the cycle: {edited.read_text().strip()!r}")
    for change in server.history.log(["SEC1/Env2/SyncFiles/etc/app/app.conf"]):
        say(
            f"  history on A: {change.rev[:8]} {change.operation} {change.role}/Env{change.env} "
            f"on {change.server}"
        )
