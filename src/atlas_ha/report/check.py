"""`atlas-ha check SUBCOMMAND`: ATLAS itself as a Nagios/Icinga plugin (SPEC 7.4, 8.5).

The plugin contract (Nagios plugin development guidelines): exit 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN; one status line `ATLAS <SUB> <STATE> - <text> | <perfdata>`;
thresholds -w/-c as Nagios ranges (verifier/kinds/nagios_output.py Range: `10` outside 0..10,
`10:` below 10, `~:10` above 10, `10:20` outside 10..20, `@10:20` inside 10..20); UNKNOWN with
the reason when the server cannot be read; everything within the timeout (-t, 2 s).

    pri          exactly one PRI in the group, answering on its address: a TCP connect to
                 the PRI's ssh port (-p, else its MasterConfig entry, else 22); -w/-c: the
                 connect time in seconds
    cycle-age    seconds since the last SyncCycle ended (PRI); -w 900 -c 1800 by default
    compare      the last compare of every SEC: equal OK, different WARNING, stale, missing
                 or invalid CRITICAL; -w/-c: the number of SECs not equal
    verifier     the worst Verifier result (a stale one is UNKNOWN; none at all is UNKNOWN);
                 -w/-c: the number of checks not OK
    suspended    WARNING while suspended; -w/-c: the seconds it has been suspended
    readiness    CRITICAL when a SEC is not ready for failover, with its reasons (PRI);
                 -w/-c: the number of SECs not ready
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.report import loader
from atlas_ha.report.model import COMPARE_STATUS, GroupStatus, Inputs, age, build, when
from atlas_ha.sync.address import own_address
from atlas_ha.verifier.kinds.nagios_output import PerfdataError, Range
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.verdict import worst_go

SUBCOMMANDS = ("pri", "cycle-age", "compare", "verifier", "suspended", "readiness")
DEFAULT_TIMEOUT = 2.0
DEFAULTS = {"cycle-age": ("900", "1800")}


@dataclass
class Options:
    warning: str | None = None
    critical: str | None = None
    port: int | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class Result:
    sub: str
    status: Status
    text: str
    perfdata: list[str] = field(default_factory=list)

    def line(self) -> str:
        perf = f" | {' '.join(self.perfdata)}" if self.perfdata else ""
        text = self.text.replace("\n", " ").replace("|", "/")
        return f"ATLAS {self.sub.upper()} {self.status.name} - {text}{perf}"


@dataclass
class Thresholds:
    warning: Range | None
    critical: Range | None
    warn_text: str = ""
    crit_text: str = ""

    def judge(self, value: float, otherwise: Status = Status.OK) -> Status:
        """CRITICAL if the critical range alerts, else WARNING if the warning range does,
        else `otherwise`."""
        if self.critical is not None and self.critical.alerts(value):
            return Status.CRITICAL
        if self.warning is not None and self.warning.alerts(value):
            return Status.WARNING
        return otherwise

    def perf(self, label: str, value: float, uom: str = "", low: str = "0", high: str = "") -> str:
        fields = [f"{value:g}{uom}", self.warn_text, self.crit_text, low, high]
        return f"{label}=" + ";".join(fields).rstrip(";")


def thresholds(sub: str, options: Options) -> Thresholds:
    """The -w/-c ranges of `sub` (its defaults when not given); ValueError when malformed."""
    warn_default, crit_default = DEFAULTS.get(sub, (None, None))
    warn, crit = options.warning or warn_default, options.critical or crit_default
    try:
        return Thresholds(
            Range.parse(warn) if warn else None,
            Range.parse(crit) if crit else None,
            warn or "",
            crit or "",
        )
    except PerfdataError as exc:
        raise ValueError(f"-w/-c: {exc}") from None


def run(sub: str, make_server: Callable[[], Server], options: Options) -> Result:
    """The result of check `sub`; never raises: what prevents it is UNKNOWN with the reason,
    and a check still running after the timeout is UNKNOWN too."""
    box: list[Result] = []

    def work() -> None:
        box.append(_guarded(sub, make_server, options))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(options.timeout)
    if not box:
        return Result(sub, Status.UNKNOWN, f"no answer within {options.timeout:g} s")
    return box[0]


def _guarded(sub: str, make_server: Callable[[], Server], options: Options) -> Result:
    try:
        limits = thresholds(sub, options)
        server = make_server()
        return CHECKS[sub](server, limits, options)
    except ValueError as exc:
        return Result(sub, Status.UNKNOWN, f"usage: {exc}")
    except (AtlasError, OSError) as exc:
        return Result(sub, Status.UNKNOWN, f"cannot read the server: {exc}")
    except Exception as exc:  # a plugin answers UNKNOWN, never a traceback
        return Result(sub, Status.UNKNOWN, f"internal error {type(exc).__name__}: {exc}")


def _status(server: Server) -> tuple[Inputs, GroupStatus]:
    inputs = loader.gather(server)
    return inputs, build(inputs)


def check_pri(server: Server, limits: Thresholds, options: Options) -> Result:
    master = server.master()
    pris = [r for r in {master.role, *master.partners} if r == "PRI"]
    if len(pris) != 1:
        return Result("pri", Status.CRITICAL, f"no PRI in the group {master.group}'s MasterConfig")
    if master.is_pri:
        address, port = own_address(server), options.port or 22
    else:
        partner = master.partners["PRI"]
        address, port = partner.address, options.port or partner.ssh_port or 22
    started = time.monotonic()
    try:
        # 80 % of the timeout: a PRI that never answers is CRITICAL, not "no answer" UNKNOWN
        with socket.create_connection((address, port), timeout=options.timeout * 0.8):
            took = time.monotonic() - started
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {options.timeout * 0.8:g} s"
        else:
            reason = exc.strerror or str(exc)
        return Result(
            "pri", Status.CRITICAL, f"PRI of {master.group} at {address}:{port}: {reason}"
        )
    status = limits.judge(took)
    text = f"PRI of {master.group} answers at {address}:{port} in {took:.3f} s"
    return Result("pri", status, text, [limits.perf("time", round(took, 6), "s")])


def check_cycle_age(server: Server, limits: Thresholds, options: Options) -> Result:
    inputs, _ = _status(server)
    if inputs.role != "PRI":
        return Result(
            "cycle-age", Status.UNKNOWN, f"SyncCycles are run by the PRI; this is {inputs.role}"
        )
    if inputs.cycle is None:
        return Result("cycle-age", Status.UNKNOWN, "no SyncCycle yet")
    ago = max(0.0, inputs.now - inputs.cycle.finished)
    status = limits.judge(ago)
    text = f"last SyncCycle ended {age(ago)} ago ({when(inputs.cycle.finished)})"
    return Result("cycle-age", status, text, [limits.perf("age", round(ago, 3), "s")])


def check_compare(server: Server, limits: Thresholds, options: Options) -> Result:
    inputs, _ = _status(server)
    c = inputs.cycle
    if inputs.role != "PRI" or c is None:
        why = (
            "no SyncCycle yet"
            if inputs.role == "PRI"
            else f"compared on the PRI; this is {inputs.role}"
        )
        return Result("compare", Status.UNKNOWN, why)
    states = [COMPARE_STATUS.get(s.state, Status.UNKNOWN) for s in c.secs]
    worst = worst_go(states) if states else Status.OK
    not_equal = sum(1 for s in c.secs if s.state != "equal")
    status = (
        worst_go([worst, limits.judge(not_equal)]) if limits.warning or limits.critical else worst
    )
    shown = ", ".join(
        f"{s.sec} {s.state}" + (f" ({', '.join(s.paths[:3])})" if s.paths else "") for s in c.secs
    )
    perf = [limits.perf("not_equal", not_equal, "", "0", str(len(c.secs)))]
    return Result("compare", status, shown or "no SECs", perf)


def check_verifier(server: Server, limits: Thresholds, options: Options) -> Result:
    _inputs, group = _status(server)
    cells = [(r, c) for r, c in group.cells if c.service not in ("sync", "atlas")]
    if not cells:
        return Result("verifier", Status.UNKNOWN, "0 checks (nothing verified is not a go)")
    worst = worst_go(c.status for _r, c in cells)
    counts = {s: sum(1 for _r, c in cells if c.status == s) for s in Status}
    bad = counts[Status.WARNING] + counts[Status.CRITICAL] + counts[Status.UNKNOWN]
    status = worst_go([worst, limits.judge(bad)]) if limits.warning or limits.critical else worst
    worst_cells = [f"{r} {c.service}: {c.reason}" for r, c in cells if c.status == worst]
    text = f"{len(cells)} checks OK" if worst == Status.OK else "; ".join(worst_cells)
    perf = [f"{s.name.lower()}={counts[s]};;;0;{len(cells)}" for s in Status]
    return Result("verifier", status, text, perf)


def check_suspended(server: Server, limits: Thresholds, options: Options) -> Result:
    inputs, _ = _status(server)
    s = inputs.suspension
    if s is None:
        return Result("suspended", Status.OK, "not suspended", [limits.perf("suspended", 0, "s")])
    ago = max(0.0, inputs.now - s.since)
    status = (
        limits.judge(ago, Status.WARNING) if limits.warning or limits.critical else Status.WARNING
    )
    text = f"suspended by {s.by} since {when(s.since)} ({age(ago)}): {s.reason}"
    return Result("suspended", status, text, [limits.perf("suspended", round(ago), "s")])


def check_readiness(server: Server, limits: Thresholds, options: Options) -> Result:
    inputs, group = _status(server)
    if inputs.role != "PRI":
        return Result("readiness", Status.UNKNOWN, group.readiness_note)
    if not group.readiness:
        return Result("readiness", Status.UNKNOWN, "no SECs in the group")
    not_ready = [r for r in group.readiness if not r.ready]
    if limits.warning or limits.critical:
        status = limits.judge(len(not_ready))
    else:
        status = Status.CRITICAL if not_ready else Status.OK
    if not_ready:
        text = "; ".join(f"{r.sec} NOT READY: {', '.join(r.reasons)}" for r in not_ready)
    else:
        text = "every SEC ready: " + ", ".join(r.sec for r in group.readiness)
    total = len(group.readiness)
    perf = [limits.perf("not_ready", len(not_ready), "", "0", str(total))]
    return Result("readiness", status, text, perf)


CHECKS: dict[str, Callable[[Server, Thresholds, Options], Result]] = {
    "pri": check_pri,
    "cycle-age": check_cycle_age,
    "compare": check_compare,
    "verifier": check_verifier,
    "suspended": check_suspended,
    "readiness": check_readiness,
}
