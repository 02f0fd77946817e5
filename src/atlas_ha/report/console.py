"""The console view (SPEC 7.4) of `atlas-ha status` and `atlas-ha events`: text lines, with
ANSI colour only when asked (the CLI asks when stdout is a terminal and NO_COLOR is unset).

    GO: 7 checks OK                            the banner: the group's go/no-go
                 port    sync    atlas         the grid: servers x services
      PRI  *     -       OK      OK            (* marks this server)
      SEC1       OK      OK      -
      SEC2       CRIT    OK      -
      SEC2 port: CRITICAL connection refused   the reason of every cell not OK
    readiness (moving the PRI's disk into the server of):
      SEC1  READY
      SEC2  NOT READY: service port CRITICAL: connection refused
    last SyncCycle: 2026-12-01 15:02:11Z (3 min ago): SEC1 equal, SEC2 equal
"""

from __future__ import annotations

from typing import Any

from atlas_ha.report.model import GroupStatus, age, when
from atlas_ha.verifier.profile import Status

COLOURS = {
    Status.OK: "32",  # green
    Status.WARNING: "33",  # yellow
    Status.CRITICAL: "31",  # red
    Status.UNKNOWN: "35",  # magenta
}
SHORT = {Status.OK: "OK", Status.WARNING: "WARN", Status.CRITICAL: "CRIT", Status.UNKNOWN: "UNKN"}


def paint(text: str, status: Status, colour: bool, bold: bool = False) -> str:
    if not colour:
        return text
    code = COLOURS[status] + (";1" if bold else "")
    return f"\x1b[{code}m{text}\x1b[0m"


def status_lines(group: GroupStatus, colour: bool = False) -> list[str]:
    """The top view: banner, grid, the reasons of the cells not OK, readiness, last cycle."""
    banner_status = group.status if group.cells else Status.UNKNOWN
    lines = [paint(group.banner, banner_status, colour, bold=True)]
    services = group.services()
    roles = [s.role for s in group.servers]
    first = max([len(r) for r in roles] + [4]) + 3
    width = max([len(s) for s in services] + [4]) + 2
    lines.append(" " * (first + 2) + "".join(s.ljust(width) for s in services).rstrip())
    notes = []
    for row in group.servers:
        mark = "*" if row.own else " "
        cells = []
        for service in services:
            cell = row.cell(service)
            if cell is None:
                cells.append("-".ljust(width))
                continue
            cells.append(paint(SHORT[cell.status].ljust(width), cell.status, colour))
            if cell.status != Status.OK:
                notes.append((row.role, cell.service, cell.status, cell.reason))
        lines.append(f"  {row.role.ljust(first - 2)}{mark} " + "".join(cells).rstrip())
    for role, service, status, reason in notes:
        lines.append(f"  {role} {service}: {paint(status.name, status, colour)} {reason}")
    if group.readiness:
        lines.append("readiness (moving the PRI's disk into the server of):")
        for r in group.readiness:
            if r.ready:
                lines.append(f"  {r.sec.ljust(5)} {paint('READY', Status.OK, colour)}")
            else:
                shown = paint("NOT READY", Status.CRITICAL, colour)
                lines.append(f"  {r.sec.ljust(5)} {shown}: " + "; ".join(r.reasons))
    elif group.readiness_note:
        lines.append(f"readiness: {group.readiness_note}")
    c = group.cycle
    if c is not None:
        secs = ", ".join(f"{s.sec} {s.state}" for s in c.secs) or "no SECs"
        ago = age(group.cycle_age or 0.0)
        lines.append(f"last SyncCycle: {when(c.finished)} ({ago} ago): {secs}")
    elif group.role == "PRI":
        lines.append("last SyncCycle: none yet")
    return lines


def event_line(event: dict[str, Any], colour: bool = False) -> str:
    """One event of the log, for people."""
    t, kind = float(event["t"]), str(event["type"])
    return f"{when(t)}  {kind:<7} " + event_text(event, colour)


def event_text(event: dict[str, Any], colour: bool = False) -> str:
    """What one event says, without its time and type (the console line, the page's row)."""
    kind = str(event["type"])
    if kind == "state":
        where = str(event.get("scope", "?"))
        if event.get("service"):
            where += f"/{event['service']}"
        now = str(event.get("now"))
        shown = paint(now, Status[now], colour) if now in Status.__members__ else now
        was = event.get("was") or "(first seen)"
        return f"{where} {was} -> {shown}: {event.get('reason', '')}"
    if kind == "suspend":
        return f"by {event.get('by')}: {event.get('reason')}"
    if kind == "resume":
        return "the Synchronizer resumed"
    if kind == "role":
        was = event.get("was") or {}
        before = f" (was {was.get('role')} on {was.get('server')})" if was else ""
        return f"{event.get('role')} on server {event.get('server')}{before}"
    if kind == "cycle":
        secs = event.get("secs") or {}
        states = ", ".join(f"{k} {v}" for k, v in sorted(secs.items())) or "no SECs"
        verdict = "all equal" if event.get("all_equal") else "NOT all equal"
        return f"Env{event.get('env')}: {verdict} ({states})"
    if kind == "alert":
        text = f"{event.get('channel')}: {event.get('outcome')}"
        if event.get("title"):
            text += f" - {event['title']}"
        return text + (f" ({event['error']})" if event.get("error") else "")
    return str(event)
