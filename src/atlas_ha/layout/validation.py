"""The verdicts of the services' own configuration checkers on this server (issue 13).

`ESD_DATA/validation.json` holds, for the role this server holds, the last verdict of each
service whose definition names a checker (`validate` in the services file):

    passed     the checker accepted the installed configuration (exit 0)
    rejected   it refused it: the service was not reloaded (a SEC) and keeps its last good
               configuration; `owed` lists the changed paths whose reload is still owed
    unknown    the checker could not tell: missing on this server, not runnable, no answer
               in time (never taken for passed)

Written by the Verifier (verifier/validate.py) before the reloads of an Install (SEC) and
before a Create (PRI); read by Install (the reloads still owed), SyncUp (its answer tells the
PRI), Create (`[sync] rejected = "refuse"`) and the cycle report. On the Bound Data: it is
about this machine's programs, like the owed reloads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.esd import EsdData

STATES = ("passed", "rejected", "unknown")


@dataclass(frozen=True)
class Verdict:
    service: str
    role: str
    env: int
    state: str  # one of STATES
    checker: str  # the checker as named in reports ("nginx -t")
    message: str = ""  # the checker's own message (its first relevant line), or the reason
    file: str = ""  # the file it names, as a system path ("" when it names none)
    line: int | None = None
    owed: tuple[str, ...] = field(default_factory=tuple)

    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file} line {self.line}" if self.line is not None else self.file

    def describe(self, on: str = "") -> str:
        """ "rejected by nginx -t[ on SEC1 (Env1)]: /etc/nginx/conf.d/a.conf line 3: unknown
        directive ..." (`on`: the server, for a report of the group)."""
        if self.state == "passed":
            head = f"accepted by {self.checker}"
        elif self.state == "rejected":
            head = f"rejected by {self.checker}"
        else:
            head = f"not checked by {self.checker}"
        head += f" on {on}" if on else ""
        return ": ".join(part for part in (head, self.where(), self.message) if part)


def read(esd: EsdData, role: str) -> dict[str, Verdict]:
    """The verdicts recorded for `role` (an unreadable record holds none)."""
    try:
        data = json.loads(esd.validation_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    items = data.get("verdicts") if isinstance(data, dict) else None
    found: dict[str, Verdict] = {}
    for item in items if isinstance(items, list) else []:
        verdict = _verdict(item)
        if verdict is not None and verdict.role == role:
            found[verdict.service] = verdict
    return found


def _verdict(item: object) -> Verdict | None:
    if not isinstance(item, dict):
        return None
    try:
        verdict = Verdict(**{**item, "owed": tuple(item.get("owed", ()))})
    except TypeError:
        return None
    ok = verdict.state in STATES and all(isinstance(p, str) for p in verdict.owed)
    return verdict if ok else None


def write(esd: EsdData, verdicts: list[Verdict]) -> None:
    """Replace the record with `verdicts` (those of one role)."""
    record = {"verdicts": [asdict(v) for v in sorted(verdicts, key=lambda v: v.service)]}
    atomic_write(esd.validation_file, json.dumps(record, indent=1), mode=0o600)


def still_owed(esd: EsdData, role: str) -> list[str]:
    """The changed paths whose reload a rejected configuration holds back."""
    return sorted({p for v in read(esd, role).values() if v.state == "rejected" for p in v.owed})


def not_passed(esd: EsdData, role: str) -> list[Verdict]:
    """The verdicts other than passed (rejected first), for reports."""
    found = [v for v in read(esd, role).values() if v.state != "passed"]
    return sorted(found, key=lambda v: (v.state != "rejected", v.service))
