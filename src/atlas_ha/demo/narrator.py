"""The demo's one narrator: act titles and narration, each step and what it showed, the
summary of each act and the final result, the same for either stage. Plain text unless the
output is a terminal (and NO_COLOR is unset): there titles are bold and verdicts coloured.

Layout: an act's narration is indented by 3; each step is a line "  - ..." with its details
below it by 6; what the group looks like after the steps (servers, client, Verifier) by 2.
What the client sees is always one line (`client -> ADDRESS answered by NAME: ...`)."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from atlas_ha.demo.stage import (
    ClientView,
    GroupView,
    KeptIdentity,
    Mail,
    PageView,
    ServerView,
    VerifierRound,
)
from atlas_ha.layout.history import Change
from atlas_ha.sync.compare import CompareResult, Difference
from atlas_ha.sync.identity import IdentityResult

BOLD, GREEN, RED, YELLOW = "1", "32", "31", "33"
WIDTH = 96
NOTE = 100  # longest error or note quoted on one line
REASONS = 3  # the reasons shown of a SEC not ready


@dataclass(frozen=True)
class Check:
    """One expectation of an act: `what` should hold; `got` says what was found instead."""

    what: str
    ok: bool
    got: str = ""


def clip(text: str, limit: int = NOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def envs(versions: Sequence[int]) -> str:
    return ", ".join(f"Env{v}" for v in versions)


def down_to(versions: Sequence[int]) -> str:
    return f"converted down to {envs(versions)}" if versions else "nothing older to convert to"


def paths(installed: Sequence[str]) -> str:
    if not installed:
        return "nothing new to install"
    shown = ", ".join(installed[:3]) + (", ..." if len(installed) > 3 else "")
    return f"installed {len(installed)} changed path{'s' * (len(installed) != 1)} ({shown})"


def compare_result(data: dict[str, Any]) -> CompareResult:
    """A CompareResult from its `--json` form."""
    differences = [Difference(**d) for d in data.get("differences", [])]
    return CompareResult(data["sec"], data["state"], data["env"], differences, data.get("note", ""))


def verdict(rounds: Sequence[VerifierRound]) -> str:
    """'go on A, C; no-go on B (10 of 20 checks not OK)'."""
    go = [r.server for r in rounds if not r.not_ok]
    parts = [f"go on {', '.join(go)}"] if go else []
    for r in rounds:
        if r.not_ok:
            parts.append(f"no-go on {r.server} ({len(r.not_ok)} of {r.checks} checks not OK)")
    return "; ".join(parts)


def snapshots(view: ServerView) -> str:
    return "  ".join(
        f"SEV[{s.role}]={'-' if s.sev is None else s.sev} ({','.join(map(str, s.valid)) or '-'})"
        for s in view.snapshots
    )


class Narrator:
    def __init__(self, out: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        if color is None:
            color = self.out.isatty() and "NO_COLOR" not in os.environ
            color = color and os.environ.get("TERM") != "dumb"
        self.color = color

    # -- lines ------------------------------------------------------------------------------
    def style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def say(self, text: str = "", indent: int = 0) -> None:
        """`text` as it is (a diff, a table row), each line indented."""
        for line in text.split("\n"):
            print(" " * indent + line if line else "", file=self.out, flush=True)

    def paragraph(self, text: str, indent: int = 0, hang: int = 0) -> None:
        """`text` wrapped to the width, continuation lines indented `hang` more."""
        first, rest = " " * indent, " " * (indent + hang)
        self.say(
            textwrap.fill(
                text,
                WIDTH,
                initial_indent=first,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,  # paths stay whole
            )
        )

    def step(self, text: str) -> None:
        self.paragraph(f"- {text}", 2, 2)

    def detail(self, text: str) -> None:
        self.paragraph(text, 6, 2)

    # -- the demo's frame -------------------------------------------------------------------
    def opening(self, stage_kind: str, intro: Sequence[str], acts: int) -> None:
        head = f"atlas-ha demo: the seed's scenarios (SPEC 11) on the {stage_kind}"
        self.say(self.style(head, BOLD))
        for text in intro:
            self.paragraph(text)
        self.say(f"{acts} acts follow; each ends with a line saying whether it went as expected.")

    def act(self, number: int, total: int, title: str, narration: str) -> None:
        self.say()
        self.say(self.style(f"== Act {number} of {total}: {title}", BOLD))
        self.paragraph(narration, 3)
        self.say()

    # -- a step and what it showed ----------------------------------------------------------
    def boot(self, name: str, result: IdentityResult) -> None:
        extra = f"; converted on demand up to {envs(result.converted)}" if result.converted else ""
        self.step(f"boot {name} (Env{result.env}): role {result.role}, {result.note}{extra}")
        for path in result.installed:
            self.detail(f"installed {path}")

    def cycle(self, report: dict[str, Any]) -> None:
        env = report["env"]
        self.step(
            f"SyncCycle from {report['server']} (PRI, Env{env}): created (PRI,{env}), "
            f"{down_to(report['converted_down'])}, sent it to the SECs"
        )
        for s in report["secs"]:
            if not s["reached"]:
                cause = s.get("cause") or "not synced"
                self.detail(f"{s['sec']}: NOT SYNCED, {cause} ({clip(s['error'])})")
                continue
            r = s["reply"]
            up = f"converted it up to {envs(r['converted_pri'])}, " if r["converted_pri"] else ""
            self.detail(
                f"{s['sec']}: {up}{paths(r['installed'])}, created ({r['role']},{r['env']}), "
                f"{down_to(r['converted_down'])}, sent it back"
            )
        self.compare(report["compare"])

    def compare(self, results: Sequence[dict[str, Any]]) -> None:
        for data in results:
            result = compare_result(data)
            self.detail(f"compare {clip(result.summary())}")
            if result.state != "different":
                if result.differences:  # a stale SEC: its last snapshot, not what runs
                    count = len(result.differences)
                    self.say(f"({count} difference{'s' * (count != 1)} from its last snapshot)", 8)
                continue
            for d in result.differences:
                self.say(f"{d.path}: {d.what}", 8)
                if d.diff:
                    self.say(d.diff.rstrip("\n"), 10)

    def history(self, name: str, path: str, changes: Sequence[tuple[Change, str]]) -> None:
        self.detail(f"{name}'s history of {path}, newest first:")
        for c, content in changes:
            what = f"{c.operation} {c.role}/Env{c.env} on {c.server}"
            self.say(f"{c.rev[:10]} {c.when} {what}: {content.strip()[:60]!r}", 8)

    # -- what the group looks like ----------------------------------------------------------
    def servers(self, views: Sequence[ServerView]) -> None:
        rows = [
            (
                v.name,
                f"Env{v.env}",
                "up" if v.up else "down",
                v.disk or "no disk",
                v.role or "-",
                v.address or "-",
                snapshots(v),
            )
            for v in views
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        self.say(
            "servers, and the snapshots on each disk as SEV[role]=SnapshotEnvVersion (valid Envs):",
            2,
        )
        for row in rows:
            cells = "  ".join(c.ljust(w) for c, w in zip(row[:6], widths, strict=True))
            self.say(f"{cells}  {row[6]}".rstrip(), 4)

    def identities(self, kept: Sequence[KeptIdentity]) -> None:
        self.say("identities kept in the snapshots (they move with the disks):", 2)
        for k in kept:
            self.say(f"({k.role},{k.env}) on {k.disk}: host {k.hostname}, address {k.address}", 4)

    def client(self, view: ClientView) -> None:
        if view.answered_by is None:
            self.say(f"client -> {view.address}: no server answers", 2)
            return
        sees = "; ".join(view.sees)
        self.say(f"client -> {view.address} answered by {view.answered_by}: {sees}", 2)

    def verifier(self, rounds: Sequence[VerifierRound]) -> None:
        for r in rounds:
            if not r.not_ok:
                self.say(f"Verifier on {r.server} ({r.role}): go, {r.checks} checks all OK", 2)
                continue
            bad = f"{len(r.not_ok)} of {r.checks} checks not OK"
            self.say(self.style(f"Verifier on {r.server} ({r.role}): NO-GO, {bad}", YELLOW), 2)
            for check, status, summary in r.not_ok:
                self.say(f"{check}: {status} {clip(summary, 80)}", 6)

    def status(self, view: GroupView) -> None:
        """The banner and readiness of the status model (report/model.py) in its own words,
        clipped: the first REASONS reasons of a SEC not ready, each on one line."""
        colour = GREEN if view.banner.startswith("GO") else YELLOW
        banner = self.style(clip(view.banner, 2 * NOTE), colour)
        self.paragraph(f"status on {view.server} ({view.role}): {banner}", 2, 4)
        for sec, ready, reasons in view.readiness:
            if ready:
                self.say(f"readiness {sec}: {self.style('READY', GREEN)}", 4)
                continue
            more = f" (and {len(reasons) - REASONS} more)" if len(reasons) > REASONS else ""
            self.say(f"readiness {sec}: NOT READY{more}:", 4)
            for reason in reasons[:REASONS]:
                self.say(f"- {clip(reason, NOTE - 10)}", 6)
        if not view.readiness and view.note:
            self.say(f"readiness: {view.note}", 4)

    def pages(self, views: Sequence[PageView], note: str) -> None:
        for v in views:
            self.step(f"status page of {v.server}: {v.access}")
            if note:
                self.detail(note)
            else:
                self.detail(
                    f"answers HTTP {v.with_token or 'nothing'} with the token, "
                    f"HTTP {v.without_token or 'nothing'} without"
                )

    def mail(self, messages: Sequence[Mail], note: str) -> None:
        """What the lab's SMTP sink received (or why nothing can be)."""
        if note:
            self.step(f"alert mail: none shown ({note})")
            return
        self.step(f"the SMTP sink received {len(messages)} message(s):")
        for m in messages:
            self.detail(f"to {', '.join(m.recipients)} from {m.sender}: {m.subject!r}")
            for line in m.first_lines:
                self.say(f"| {clip(line, 84)}", 8)

    # -- summaries --------------------------------------------------------------------------
    def summary(self, checks: Sequence[Check], rounds: Sequence[VerifierRound]) -> None:
        ok = all(c.ok for c in checks)
        found = "; ".join(c.what if c.ok else f"{c.what}: NOT so, {clip(c.got)}" for c in checks)
        head = self.style("-> as expected", GREEN) if ok else self.style("-> NOT as expected", RED)
        tail = f". Verifier: {verdict(rounds)}" if rounds else ""
        self.say()
        self.paragraph(f"{head}: {found}{tail}.", 2, 3)

    def result(self, outcomes: Sequence[tuple[str, bool]], all_equal: bool) -> None:
        self.say()
        self.say(self.style("== Result", BOLD))
        width = max(len(title) for title, _ok in outcomes)
        for title, ok in outcomes:
            mark = self.style("as expected", GREEN) if ok else self.style("NOT as expected", RED)
            self.say(f"{title.ljust(width)}  {mark}", 2)
        failed = [title for title, ok in outcomes if not ok]
        equal = "every SEC compares equal" if all_equal else "NOT every SEC compares equal"
        if failed:
            self.say(f"{len(failed)} of {len(outcomes)} acts did NOT go as expected (see above).")
        else:
            self.say(f"All {len(outcomes)} acts went as expected.")
        self.say(f"After the last cycle {equal}.")

    def closing(self, lines: Sequence[str]) -> None:
        self.say()
        for line in lines:
            self.say(line)
