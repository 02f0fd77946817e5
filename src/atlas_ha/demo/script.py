"""The demo's script: the acts of SPEC 11 (from scratch, the steady state, Scenarios 1-3) and
a drift case, each a title, its narration and what it does on any stage (stage.py), in the
order played. Each act returns what it expected and found; `perform` plays them all."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atlas_ha.demo.narrator import Check, Narrator
from atlas_ha.demo.stage import GroupView, Mail, Stage, VerifierRound
from atlas_ha.errors import EXIT_DIFFERENCES

# SPEC 11, FIG 8: server A Env2 PRI, server B Env1 SEC1, server C Env3 SEC2
LAYOUT = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}
DRIFTED = "/etc/app/app.conf"
HAND_EDIT = "level = 9  # edited by hand on A\n"


@dataclass(frozen=True)
class Found:
    """What an act expected and found, its last Verifier rounds, and whether its last
    Compare found every SEC equal (None: it ran none)."""

    checks: list[Check]
    rounds: list[VerifierRound] = field(default_factory=list)
    equal: bool | None = None
    status: GroupView | None = None  # the PRI's status model after the act

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class Act:
    title: str
    narration: str
    play: Callable[[Stage, Narrator], Found]


def states(results: list[dict[str, Any]], when: str, **expected: str) -> Check:
    """Compare (`when`) found each SEC in the state expected of it."""
    found = {c["sec"]: c["state"] for c in results}
    what = f"compare {when}: " + ", ".join(f"{sec} {state}" for sec, state in expected.items())
    got = ", ".join(f"{sec} {found.get(sec, 'not compared')}" for sec in expected)
    return Check(what, found == expected, got)


def look(
    stage: Stage,
    say: Narrator,
    pri: str,
    *checks: Check,
    verify: bool = True,
    equal: bool | None = None,
) -> Found:
    """The act's `checks` (`equal`: whether its last Compare found every SEC equal), then
    the servers, what the client sees on the PRI address and a Verifier round (`verify`):
    the client must reach server `pri` and get what the PRI serves."""
    say.servers(stage.servers())
    view = stage.client()
    say.client(view)
    rounds = stage.verifier() if verify else []
    say.verifier(rounds)
    status = stage.status(pri)
    say.status(status)
    got = f"answered by {view.answered_by or 'no server'}"
    reached = Check(f"the client reaches {pri} on the PRI address", view.answered_by == pri, got)
    data = Check("it gets the PRI's data", view.as_expected, "; ".join(view.sees) or "nothing")
    pri_view = Check(
        f"{pri}'s status model judges the group as PRI", status.role == "PRI", status.role
    )
    return Found([*checks, reached, data, pri_view], rounds, equal, status)


def boot(stage: Stage, say: Narrator, name: str) -> list[str]:
    result = stage.boot(name)
    say.boot(name, result)
    return result.installed


def cycle(stage: Stage, say: Narrator, pri: str, **expected: str) -> tuple[Check, bool]:
    """One SyncCycle from `pri`: each SEC's Compare state as `expected`; all equal."""
    report = stage.cycle(pri)
    say.cycle(report)
    equal = all(c["state"] == "equal" for c in report["compare"])
    return states(report["compare"], "after the cycle", **expected), equal


def from_scratch(stage: Stage, say: Narrator) -> Found:
    say.step("atlas-ha init on A (Env2, PRI), B (Env1, SEC1) and C (Env3, SEC2)")
    booted = stage.set_up(LAYOUT)
    for name, result in booted.items():
        say.boot(name, result)
    installed = [name for name, result in booted.items() if result.installed]
    first = Check("no identity installed at first boot", not installed, f"installed on {installed}")
    views = stage.pages()
    say.pages(views, stage.no_page)
    checks = [first]
    if views and not stage.no_page:
        answers = [(v.server, v.with_token, v.without_token) for v in views]
        served = all(v.with_token == 200 and v.without_token == 401 for v in views)
        what = "every status page answers with the token (200) and refuses without (401)"
        checks.append(Check(what, served, f"{answers}"))
    found = look(stage, say, "A", verify=False)
    return Found([*checks, *found.checks], status=found.status)


def steady_state(stage: Stage, say: Narrator) -> Found:
    compared, equal = cycle(stage, say, "A", SEC1="equal", SEC2="equal")
    kept = [k for k in map(stage.kept_identity, stage.group.servers) if k is not None]
    say.identities(kept)
    held = Check("each role's identity is kept on its disk", len(kept) == len(LAYOUT), f"{kept}")
    return look(stage, say, "A", compared, held, equal=equal)


def scenario_1(stage: Stage, say: Narrator) -> Found:
    stage.shutdown("A", "B")
    disk, aside = stage.unplug("A"), stage.unplug("B")
    stage.plug(disk, "B")
    say.step(f"A and B shut down; {disk} goes into B ({aside} set aside)")
    identity = Check(
        "B installs the PRI identity", bool(boot(stage, say, "B")), "it installed none"
    )
    compared, equal = cycle(stage, say, "B", SEC1="stale", SEC2="equal")
    found = look(stage, say, "B", identity, compared, equal=equal)
    readiness = found.status.readiness if found.status else ()
    sec1 = next((r for r in readiness if r[0] == "SEC1"), None)
    not_ready = Check("SEC1 is NOT READY", sec1 is not None and not sec1[1], f"{sec1}")
    checks = [*found.checks, not_ready]
    if not stage.no_mail:
        say.step("B's daemon is asked for a SyncCycle now (the page's button); its alert round:")
        mail = stage.alerts("B", "SEC1")
        say.mail(mail, "")
        got = "; ".join(m.subject for m in mail) or "no message"
        checks.append(Check("the alert about SEC1 reaches the mail sink", _about(mail), got))
    else:
        say.mail([], stage.no_mail)
    return Found(checks, found.rounds, found.equal, found.status)


def _about(mail: list[Mail], role: str = "SEC1") -> bool:
    return any(role in m.subject and m.recipients for m in mail)


def scenario_2(stage: Stage, say: Narrator) -> Found:
    (disk,) = stage.group.loose_disks()  # B's, set aside in Scenario 1
    stage.plug(disk, "A")
    say.step(f"{disk} (role SEC1) goes into A")
    boot(stage, say, "A")
    compared, equal = cycle(stage, say, "B", SEC1="equal", SEC2="equal")
    return look(stage, say, "B", compared, equal=equal)


def scenario_3(stage: Stage, say: Narrator) -> Found:
    stage.shutdown("B", "C")
    disk_b, disk_c = stage.unplug("B"), stage.unplug("C")
    stage.plug(disk_c, "B")
    stage.plug(disk_b, "C")
    say.step(f"B and C shut down; {disk_c} goes into B, {disk_b} into C")
    boot(stage, say, "B")
    boot(stage, say, "C")
    compared, equal = cycle(stage, say, "C", SEC1="equal", SEC2="equal")
    return look(stage, say, "C", compared, equal=equal)


def drift(stage: Stage, say: Narrator) -> Found:
    before = stage.read("A", DRIFTED)
    stage.edit("A", DRIFTED, HAND_EDIT)
    say.step(f"on A: {DRIFTED} edited by hand, then atlas-ha sync create, convert-older, send")
    stage.send_own("A")
    found = stage.compare("C")
    say.step("Snapshot Compare on C, the PRI:")
    say.compare(found)
    seen = states(found, "after the edit", SEC1="different", SEC2="equal")
    compared, equal = cycle(stage, say, "C", SEC1="equal", SEC2="equal")
    after = stage.read("A", DRIFTED)
    say.detail(f"A's {DRIFTED} after the cycle: {after.strip()!r}")
    undone = Check("the cycle put the PRI's version back", after == before, repr(after))
    changes = stage.history("A", DRIFTED)
    say.history("A", DRIFTED, changes)
    contents = [content for _change, content in changes]
    both = bool(contents) and contents[0] == before and HAND_EDIT in contents
    kept = Check("A's history keeps the edit and the version put back", both, f"{contents}")
    return look(stage, say, "C", seen, compared, undone, kept, equal=equal)


ACTS = (
    Act(
        "From scratch: three fresh servers",
        "Three servers are set up from scratch with `atlas-ha init`. Each runs another OS "
        "version (EnvVersion: A Env2, B Env1, C Env3), which keeps the same configuration "
        "in its own formats and places. A takes the PRI role (it serves the clients), B and "
        "C stand by as SEC1 and SEC2. Each server's network identity was configured by hand "
        "in its OS, so the first boot installs none from its disk: no snapshot exists yet.",
        from_scratch,
    ),
    Act(
        "Steady state: one SyncCycle from A",
        "The PRI (A) snapshots its configuration, converts it down to Env1 for B and sends "
        "it to both SECs. Each SEC converts it up to its own environment where needed, "
        "installs it, snapshots its own role and sends that back; A then compares each SEC "
        "with itself. After this first cycle every role's identity is kept in a snapshot on "
        "its own disk. After each act the PRI's status model (what `atlas-ha status` and the "
        "status page show) gives the group's go/no-go banner and the readiness of each SEC. "
        "On the namespace lab the Verifier's rounds, and so that go/no-go and readiness, "
        "include the checks added for file sharing, time and the database page: files (smb: "
        "each Samba share's test file read with the cycle's token, a lock taken and "
        "released, the restricted share refused without credentials), time (ntp: chrony's "
        "offset, stratum and reachability) and dbpage (http with db_page: a page the "
        "application behind nginx generates from the database must show the cycle's token).",
        steady_state,
    ),
    Act(
        "Scenario 1: A needs service, B becomes PRI",
        "A needs service. A and B are shut down; A's Unbound Data disk, which carries the PRI "
        "role, goes into B, and B's own disk is set aside. B boots, finds the PRI role on the "
        "disk and installs the PRI identity from the Env1 snapshot: B now answers on the PRI "
        "address, with the PRI's data. B's cycle cannot reach SEC1 (no server holds it while "
        "A is away): SEC1 is reported stale - the alert an administrator gets - and, on the "
        "namespace lab, the Verifier says no-go for SEC1's services.",
        scenario_1,
    ),
    Act(
        "Scenario 2: A is repaired and returns as SEC1",
        "A comes back from repair and gets B's old disk (the SEC1 role). At boot A finds no "
        "SEC1 snapshot for its own Env2, converts one up from Env1 on demand and installs the "
        "SEC1 identity. B's next cycle brings A up to date.",
        scenario_2,
    ),
    Act(
        "Scenario 3: B and C swap disks, C becomes PRI",
        "B and C are shut down and their disks swapped. B boots as SEC2 and installs that "
        "identity from (SEC2,1); C boots as PRI, converts the PRI snapshot from Env1 up to its "
        "Env3 on demand and installs the PRI identity. After C's cycle every SEC compares "
        "equal at Env3.",
        scenario_3,
    ),
    Act(
        "Drift: a hand edit on a SEC",
        f"Someone edits {DRIFTED} on A (SEC1) by hand, and A sends its snapshot to the PRI. "
        "Compare on the PRI reports the difference, with a diff; the next SyncCycle installs "
        "the PRI's version over the edit. A's history keeps both changes: nothing is lost.",
        drift,
    ),
)


def perform(stage: Stage, say: Narrator, acts: tuple[Act, ...] = ACTS) -> int:
    """Play `acts` in order on `stage`: 0 when every act went as expected, EXIT_DIFFERENCES
    otherwise. The last line is JSON for scripts: whether the last Compare found every SEC
    equal. The stage is ended (taken down or kept) whether the acts finish or one raises."""
    say.opening(stage.kind, stage.intro(), len(acts))
    outcomes: list[tuple[str, bool]] = []
    equal = False
    try:
        for number, act in enumerate(acts, 1):
            say.act(number, len(acts), act.title, act.narration)
            found = act.play(stage, say)
            say.summary(found.checks, found.rounds)
            outcomes.append((act.title, found.ok))
            equal = equal if found.equal is None else found.equal
    except BaseException:
        say.closing(stage.finish(failed=True))
        raise
    say.result(outcomes, equal)
    say.closing(stage.finish(failed=False))
    say.say(json.dumps({"all_equal": equal}))
    return 0 if all(ok for _title, ok in outcomes) else EXIT_DIFFERENCES
