"""`atlas-ha version use VERSION|rollback`: switch the running version, verify, undo if bad.

A switch (one at a time: `EsdData.versions_lock_file`):

1. before: with the version that runs now, the Verifier's round and the hello to every
   partner (`version handshake`), so that a check that failed already (a partner down) is
   not blamed on the new version;
2. the daemon is stopped (a running SyncCycle finishes: `daemon stop`, or `systemctl stop`
   when systemd runs it), `previous` and `current` are relinked atomically (versions/links);
3. the new version, called through the `current` link (so the link itself is what is
   tested): its `--version`; the daemon started again if it was running (`daemon start`, or
   `systemctl start`) and alive with a fresh heartbeat; one Verifier round with no check
   worse than before; every partner that answered the old version's hello answers the new
   one's (the protocol agreed is shown);
4. a step that fails: the daemon is stopped, the links are put back, the daemon started with
   the old version again and checked alive; VersionSwitchError says why. If the old version
   fails too: VersionRollbackError with both reasons.

Every program runs as a separate process of its own version: nothing here imports the
daemon, the Verifier or the Synchronizer (this package sits below them, docs/architecture.md).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha.errors import (
    AtlasError,
    VersionRollbackError,
    VersionStateError,
    VersionSwitchError,
)
from atlas_ha.layout.atomic import locked
from atlas_ha.layout.esd import EsdData
from atlas_ha.settings import Settings
from atlas_ha.system import Runner
from atlas_ha.versions import links as links_mod
from atlas_ha.versions.install import require_installed
from atlas_ha.versions.links import Links

BAD = ("CRITICAL", "UNKNOWN")
RANK = {"OK": 0, "WARNING": 1, "UNKNOWN": 2, "CRITICAL": 3}
UNIT = "atlas-ha.service"
START_TIMEOUT = 30.0
ROUND_TIMEOUT = 300.0


@dataclass
class Step:
    what: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "ok": self.ok, "detail": self.detail, "seconds": self.seconds}


@dataclass
class Switch:
    old: str | None
    new: str
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    daemon: str = "not running"  # what became of the daemon

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "daemon": self.daemon,
            "seconds": round(self.seconds, 3),
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class Before:
    """What the version running before the switch saw."""

    daemon_pid: int | None
    systemd: bool
    start_args: list[str]
    checks: dict[str, str]  # check -> status of its round
    partners: dict[str, bool]  # role -> its hello succeeded


class Switcher:
    def __init__(self, settings: Settings, runner: Runner, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.runner = runner
        self.log = log
        self.esd = EsdData(settings.esd_data)

    # -- programs ---------------------------------------------------------------------------
    def program(self, state: Links) -> list[str]:
        """The atlas-ha of `state`'s current version (through the link), else this one."""
        if state.current is None:
            return [sys.executable, "-m", "atlas_ha"]
        return [str(self.esd.current_program)]

    def run(self, program: list[str], args: list[str], timeout: float = 120.0) -> Any:
        argv = [*program, "--config", str(self.settings.config_file), *args]
        return self.runner.run(argv, check=False, timeout=timeout)

    def json_of(self, program: list[str], args: list[str], timeout: float = 120.0) -> Any:
        done = self.run(program, args, timeout)
        try:
            return json.loads(done.stdout)
        except ValueError as exc:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise VersionSwitchError(
                f"`{' '.join(args)}` exit {done.returncode}: {said[0]}"
            ) from exc

    # -- before -----------------------------------------------------------------------------
    def before(self, program: list[str]) -> Before:
        status = self.json_of(program, ["daemon", "status", "--json"])
        pid = status.get("pid") if status.get("running") else None
        systemd = pid is not None and _under_systemd(int(pid))
        start_args = _start_args(int(pid)) if pid else []
        checks: dict[str, str] = {}
        try:
            checks = _statuses(self.json_of(program, ["verify", "run", "--json"], ROUND_TIMEOUT))
        except VersionSwitchError as exc:
            self.log(f"before the switch: no Verifier round ({exc})")
        partners: dict[str, bool] = {}
        try:
            rows = self.json_of(program, ["version", "handshake", "--json"])
            partners = {str(r["role"]): bool(r["ok"]) for r in rows}
        except (VersionSwitchError, TypeError, KeyError) as exc:
            self.log(f"before the switch: no handshake ({exc}); every partner must answer")
        return Before(pid, systemd, start_args, checks, partners)

    # -- the daemon -------------------------------------------------------------------------
    def stop_daemon(self, program: list[str], systemd: bool) -> None:
        """Stop the daemon if one runs (a running SyncCycle finishes first)."""
        if systemd:
            done = self.runner.run(["systemctl", "stop", UNIT], check=False, timeout=660)
        else:
            done = self.run(program, ["daemon", "stop", "--timeout", "600"], timeout=660)
        if done.returncode != 0:
            raise VersionStateError(f"the daemon did not stop: {(done.stderr or done.stdout)}")

    def start_daemon(self, program: list[str], before: Before) -> None:
        if before.daemon_pid is None:
            return
        if before.systemd:
            done = self.runner.run(["systemctl", "start", UNIT], check=False, timeout=60)
        else:
            done = self.run(program, ["daemon", "start", *before.start_args], START_TIMEOUT)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise VersionSwitchError(f"the daemon did not start: {said}")

    # -- verification -----------------------------------------------------------------------
    def verify(self, version: str, program: list[str], before: Before, switch: Switch) -> None:
        self.step(switch, "program", lambda: self.check_version(program, version))
        if before.daemon_pid is not None:
            self.step(switch, "daemon", lambda: self.check_daemon(program, before))
        self.step(switch, "verifier round", lambda: self.check_round(program, before))
        self.step(switch, "partners", lambda: self.check_partners(program, before))

    def step(self, switch: Switch, what: str, check: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = check()
        except VersionSwitchError as exc:
            switch.steps.append(Step(what, False, str(exc), time.monotonic() - started))
            raise
        switch.steps.append(Step(what, True, detail, time.monotonic() - started))
        self.log(f"{what}: {detail}")

    def check_version(self, program: list[str], version: str) -> str:
        done = self.runner.run([*program, "--version"], check=False, timeout=60)
        if done.stdout.strip() != f"atlas-ha {version}":
            said = (done.stdout or done.stderr).strip()[:120]
            raise VersionSwitchError(
                f"{program[0]} --version says {said!r}, not atlas-ha {version}"
            )
        return done.stdout.strip()

    def check_daemon(self, program: list[str], before: Before) -> str:
        self.start_daemon(program, before)
        return self.wait_alive(program)

    def wait_alive(self, program: list[str]) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            status = self.json_of(program, ["daemon", "status", "--json"])
            age = status.get("heartbeat_age")
            if status.get("running") and age is not None and age < START_TIMEOUT:
                return f"running, pid {status['pid']}, heartbeat {age:.1f} s ago"
            if time.monotonic() > deadline:
                raise VersionSwitchError(
                    f"the daemon is not alive: {status.get('sentence') or status}"
                )
            time.sleep(0.2)

    def check_round(self, program: list[str], before: Before) -> str:
        now = _statuses(self.json_of(program, ["verify", "run", "--json"], ROUND_TIMEOUT))
        worse = [
            f"{check} {status} (was {before.checks.get(check, 'not checked')})"
            for check, status in sorted(now.items())
            if status in BAD and RANK[status] > RANK.get(before.checks.get(check, "OK"), 0)
        ]
        if worse:
            raise VersionSwitchError("worse than before: " + "; ".join(worse))
        return f"{len(now)} checks, none worse than before"

    def check_partners(self, program: list[str], before: Before) -> str:
        rows = self.json_of(program, ["version", "handshake", "--json"])
        failed = [
            f"{r['role']} at {r['address']}: {r.get('error')}"
            for r in rows
            if not r.get("ok") and before.partners.get(str(r["role"]), True)
        ]
        if failed:
            raise VersionSwitchError("a partner no longer answers the hello: " + "; ".join(failed))
        agreed = [f"{r['role']} protocol {r['protocol']}" for r in rows if r.get("ok")]
        down = [str(r["role"]) for r in rows if not r.get("ok")]
        shown = ", ".join(agreed) or "no partner answered"
        return shown + (f" ({', '.join(down)} unreachable before too)" if down else "")

    # -- the switch -------------------------------------------------------------------------
    def switch(self, target: Callable[[Links], str]) -> Switch:
        started = time.monotonic()
        with locked(self.esd.versions_lock_file):
            state = links_mod.links(self.esd)
            version = target(state)
            require_installed(self.esd, version)
            result = Switch(state.current, version)
            if state.current == version:
                result.daemon = "unchanged"
                result.steps.append(Step("links", True, f"{version} is current already", 0.0))
                return result
            old_program = self.program(state)
            before = self.before(old_program)
            self.stop_daemon(old_program, before.systemd)
            links_mod.switch_to(self.esd, version)
            new_program = [str(self.esd.current_program)]
            try:
                self.verify(version, new_program, before, result)
            except AtlasError as why:  # any failure of the new version: undo the switch
                self.undo(state, before, new_program, result, why)
            result.daemon = "restarted" if before.daemon_pid else "not running (left so)"
            result.seconds = time.monotonic() - started
            return result

    def undo(
        self, state: Links, before: Before, new_program: list[str], result: Switch, why: Exception
    ) -> None:
        self.log(f"{result.new} failed: {why}; rolling back to {state.current or 'no version'}")
        try:
            self.stop_daemon(new_program, before.systemd)
        except AtlasError as exc:
            self.log(f"stopping the new version's daemon: {exc}")
        links_mod.restore(self.esd, state)
        old_program = self.program(state)
        try:
            if before.daemon_pid is not None:
                self.check_daemon(old_program, before)
        except AtlasError as again:
            raise VersionRollbackError(
                f"{result.new}: {why}; and after putting {state.current or 'no version'} back: "
                f"{again}"
            ) from again
        back = state.current or "the version outside ESD_DATA/bin"
        raise VersionSwitchError(f"{result.new}: {why}; rolled back to {back}") from why


def use(settings: Settings, version: str, runner: Runner, log: Callable[[str], None]) -> Switch:
    """Make `version` the one that runs (see the module's docstring)."""
    return Switcher(settings, runner, log).switch(lambda _state: version)


def rollback(settings: Settings, runner: Runner, log: Callable[[str], None]) -> Switch:
    """Swap `current` and `previous`, with the same verification."""

    def previous(state: Links) -> str:
        if state.previous is None:
            raise VersionStateError("no previous version to roll back to (`version list`)")
        return state.previous

    return Switcher(settings, runner, log).switch(previous)


def _statuses(report: Any) -> dict[str, str]:
    """check -> status of a `verify run --json` report."""
    rows = report.get("results", []) if isinstance(report, dict) else []
    found = {}
    for row in rows:
        key = f"{row.get('service')}@{row.get('target_role') or row.get('target_address')}"
        found[key] = str(row.get("profile", {}).get("status", "UNKNOWN"))
    return found


def _under_systemd(pid: int) -> bool:
    """Whether process `pid` runs in systemd's atlas-ha.service (its cgroup says so)."""
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    return f"/{UNIT}" in cgroup


def _start_args(pid: int) -> list[str]:
    """--interval/--replan of the running daemon's command line, to start it the same way."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (OSError, UnicodeDecodeError):
        return []
    kept = []
    for option in ("--interval", "--replan"):
        if option in argv[:-1]:
            kept += [option, argv[argv.index(option) + 1]]
    return kept
