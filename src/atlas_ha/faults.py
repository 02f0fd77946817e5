"""Fault injection points (failpoints) for the transaction tests.

Every operation calls `faults.checkpoint(name)` between its steps. In production the
`Faults` object is empty and does nothing. Tests set ATLAS_HA_FAULTS to a comma-separated
list of `[SERVER:]NAME=raise`, `[SERVER:]NAME=kill` or `[SERVER:]NAME=errno:ENAME` (NAME may
hold '*'; SERVER limits the rule to the server of that name); `raise` raises InjectedFault,
`kill` sends SIGKILL to the running process, as a power cut would; `errno:ENOSPC` raises the
OSError the kernel would give (a limit this test cannot set without touching /proc/sys, e.g.
fs.inotify.max_user_watches reached: daemon/watch.py).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal

from atlas_ha.errors import InjectedFault

ENV_VAR = "ATLAS_HA_FAULTS"
__all__ = ["ENV_VAR", "Faults", "InjectedFault"]


class Faults:
    def __init__(self, spec: str = "", server: str = "") -> None:
        self.rules: list[tuple[str, str]] = []
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, _, action = item.partition("=")
            if action not in ("raise", "kill") and _errno_of(action) is None:
                raise ValueError(
                    f"{ENV_VAR}: {item!r}: expected NAME=raise, NAME=kill or NAME=errno:ENAME"
                )
            target, _, point = name.rpartition(":")
            if target in ("", server):
                self.rules.append((point, action))
        self.seen: list[str] = []

    @classmethod
    def from_environ(cls, server: str = "") -> Faults:
        return cls(os.environ.get(ENV_VAR, ""), server)

    def checkpoint(self, name: str) -> None:
        self.seen.append(name)
        for pattern, action in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                if action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if (number := _errno_of(action)) is not None:
                    raise OSError(number, f"{os.strerror(number)} (injected at {name})")
                raise InjectedFault(f"injected fault at {name}")


def _errno_of(action: str) -> int | None:
    """The errno number of an `errno:ENAME` action; None for anything else."""
    kind, _, symbol = action.partition(":")
    number = getattr(errno, symbol, None) if kind == "errno" and symbol.startswith("E") else None
    return number if isinstance(number, int) else None
