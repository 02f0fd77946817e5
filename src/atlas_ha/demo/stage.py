"""What the demo's acts ask of a group of three servers, whatever it runs on (a stage).

A stage powers servers off and on, moves disks, runs SyncCycles, Compare and the Verifier,
and says what a client using the PRI address sees. Two stages implement it: the simulation
(sim_stage.py, the filesystem only) and the lab (lab_stage.py, namespaces or loopback). Both
keep their servers' files in a `SimGroup` directory, so what is read from the files (each
disk's snapshots, the identity a snapshot keeps, a server's history, a hand edit) is done
here, once.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from atlas_ha.converters import identity
from atlas_ha.errors import AtlasError, GuardError, HistoryError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.history import Change
from atlas_ha.sync.identity import IdentityResult


def quiet(_line: str) -> None:
    """Operation logs are summarised by the narration instead."""


@dataclass(frozen=True)
class Snapshots:
    """One role's snapshots on a disk: its SnapshotEnvVersion and the valid environments."""

    role: str
    sev: int | None
    valid: tuple[int, ...]


@dataclass(frozen=True)
class ServerView:
    name: str
    env: int
    up: bool
    disk: str | None
    role: str | None
    address: str | None
    snapshots: tuple[Snapshots, ...]


@dataclass(frozen=True)
class ClientView:
    """What a client using the PRI address gets: who answers, what it sees (one item each),
    and whether that is the PRI's (its pages and rows, or on the simulation its identity)."""

    address: str
    answered_by: str | None
    sees: tuple[str, ...]
    as_expected: bool


@dataclass(frozen=True)
class VerifierRound:
    """One Verifier round on a running server: its checks, and those not OK as
    (check, status, summary)."""

    server: str
    role: str
    checks: int
    not_ok: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class GroupView:
    """The group's go/no-go as server `server`'s status model says it (report/model.py, the
    one `atlas-ha status` shows): its banner, and on a PRI the readiness of each SEC as
    (SEC, ready, reasons); `note` says why there is none (not the PRI)."""

    server: str
    role: str
    banner: str
    readiness: tuple[tuple[str, bool, tuple[str, ...]], ...]
    note: str = ""


def group_view(server: str, report: dict[str, Any]) -> GroupView:
    """A GroupView from the status model's dict form (GroupStatus.to_dict(), the "report" of
    `atlas-ha status --json`)."""
    ready = tuple(
        (str(r["sec"]), bool(r["ready"]), tuple(str(x) for x in r["reasons"]))
        for r in report["readiness"]
    )
    return GroupView(
        server, str(report["role"]), str(report["banner"]), ready, report["readiness_note"]
    )


@dataclass(frozen=True)
class PageView:
    """A server's status page: the command opening it from the host, and the HTTP status it
    answered with the lab's token and without (0: nothing answered)."""

    server: str
    access: str
    with_token: int
    without_token: int


@dataclass(frozen=True)
class Mail:
    """One message the lab's SMTP sink received: the envelope's sender and recipients, the
    subject and the first lines of the text."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    first_lines: tuple[str, ...]


@dataclass(frozen=True)
class KeptIdentity:
    """The identity a role's snapshot keeps (what a server taking the disk installs)."""

    role: str
    env: int
    disk: str
    hostname: str
    address: str


def identity_result(data: dict[str, Any]) -> IdentityResult:
    """An IdentityResult from `atlas-ha boot --json` output (which adds other keys)."""
    return IdentityResult(
        **{f.name: data[f.name] for f in fields(IdentityResult) if f.name in data}
    )


def check_dir(base: Path, owned: frozenset[str]) -> None:
    """Refuse a `base` that holds anything but what a demo puts there (`owned` names): a
    --dir given by mistake (a home, /etc) is refused, not emptied."""
    if not base.exists() and not base.is_symlink():
        return
    if not base.is_dir() or base.is_symlink():
        raise GuardError(f"{base}: not a directory; the demo needs a directory of its own")
    foreign = sorted(p.name for p in base.iterdir() if p.name not in owned)
    if foreign:
        raise GuardError(
            f"{base}: holds {', '.join(foreign[:5])}, which no demo put there; the demo "
            "replaces what its --dir holds: choose a new or an earlier demo's directory"
        )


def clear_dir(base: Path, owned: frozenset[str]) -> None:
    """Remove `base` for a fresh group, only if it holds nothing but what a demo puts there
    (see `check_dir`)."""
    check_dir(base, owned)
    if base.exists():
        shutil.rmtree(base)


class Hardware(Protocol):
    """What powers servers off and moves disks: a SimGroup, or a Lab (which also stops the
    server's processes and refuses to move the disk of a running server)."""

    def shutdown(self, *names: str) -> None: ...

    def unplug(self, name: str) -> str: ...

    def plug(self, disk: str, name: str) -> None: ...


class Stage(ABC):
    """The group the acts play on: servers A, B, C and their disks."""

    kind: str  # what it is, for the narration ("simulation", "namespace lab", ...)
    no_verifier: str = ""  # why the Verifier does not run on this stage ("" when it does)
    no_mail: str = "no daemon runs, so no alert is mailed"  # why `alerts` shows none
    no_page: str = ""  # why `pages` shows no page answering ("" when they do)

    def __init__(self, group: SimGroup, hardware: Hardware) -> None:
        self.group = group
        self.hardware = hardware

    def shutdown(self, *names: str) -> None:
        self.hardware.shutdown(*names)

    def unplug(self, name: str) -> str:
        """Take the disk out of the (shut down) server `name`: the disk's name."""
        return self.hardware.unplug(name)

    def plug(self, disk: str, name: str) -> None:
        self.hardware.plug(disk, name)

    # -- what each stage does its own way --------------------------------------------------
    @abstractmethod
    def intro(self) -> list[str]:
        """What this stage is, for the administrator (paragraphs)."""

    @abstractmethod
    def set_up(self, layout: dict[str, tuple[int, str]]) -> dict[str, IdentityResult]:
        """Fresh servers {name: (env, role)}, each set up with `atlas-ha init` and booted:
        each first boot's Role/Identity Install."""

    @abstractmethod
    def boot(self, name: str) -> IdentityResult: ...

    @abstractmethod
    def cycle(self, name: str) -> dict[str, Any]:
        """One SyncCycle from the PRI `name`: its report as `atlas-ha sync cycle --json`."""

    @abstractmethod
    def compare(self, name: str) -> list[dict[str, Any]]:
        """Snapshot Compare on the PRI `name`, as `atlas-ha sync compare --json`."""

    @abstractmethod
    def send_own(self, name: str) -> None:
        """Server `name` snapshots its own role, converts it down and sends it (the
        operator's `atlas-ha sync create`, `convert-older`, `send`)."""

    @abstractmethod
    def power(self, name: str) -> tuple[bool, str | None]:
        """(running, the address it answers on) of server `name`."""

    @abstractmethod
    def client(self) -> ClientView: ...

    def verifier(self) -> list[VerifierRound]:
        """One Verifier round on every running server (none where `no_verifier` says why)."""
        return []

    def pages(self) -> list[PageView]:
        """Each running server's status page (none where no daemon serves one)."""
        return []

    @abstractmethod
    def status(self, name: str) -> GroupView:
        """The group's go/no-go as server `name`'s status model says it now."""

    def alerts(self, pri: str, about: str) -> list[Mail]:
        """The PRI `pri`'s daemon runs its alert round now: the mail the sink received
        since, up to the first message about `about` (none where `no_mail` says why)."""
        return []

    @abstractmethod
    def finish(self, failed: bool) -> list[str]:
        """The end of the demo (take down or keep for exploring): what to tell."""

    # -- what is read from (and written to) the servers' files, on either stage -------------
    def servers(self) -> list[ServerView]:
        views = []
        for name, sim in self.group.servers.items():
            up, address = self.power(name)
            role: str | None = None
            snapshots: tuple[Snapshots, ...] = ()
            if self.group.disk_of(name):
                try:
                    sid = sim.server(quiet).sid
                    role = sid.master_config().role
                    snapshots = tuple(
                        Snapshots(
                            r, sid.sev(r), tuple(v for v in sid.envs(r) if sid.is_valid(r, v))
                        )
                        for r in sid.roles()
                    )
                except AtlasError:
                    role = None  # a disk not set up (yet): no role to show
            views.append(
                ServerView(name, sim.env, up, self.group.disk_of(name), role, address, snapshots)
            )
        return views

    def pri_holder(self) -> str | None:
        """The server answering on the PRI address (None while no server does)."""
        pri = self.group.addresses["PRI"]
        return next((s.name for s in self.servers() if s.up and s.address == pri), None)

    def kept_identity(self, name: str) -> KeptIdentity | None:
        """The identity kept in the snapshot of server `name`'s role at its own environment,
        on the disk plugged in; None while there is no such valid snapshot."""
        disk = self.group.disk_of(name)
        if disk is None:
            return None
        server = self.group.servers[name].server(quiet)
        role, env = server.role(), server.env_id
        if not server.sid.is_valid(role, env):
            return None
        area = server.sid.area(role, env)
        envdef = server.envs[env]
        fmt = envdef.formats["identity"]
        files = {
            p: area.copy_path("IdentFiles", p).read_bytes()
            for p in identity.paths(fmt, envdef.device)
            if area.copy_path("IdentFiles", p).exists()
        }
        if not files:
            return None
        kept = identity.parse(fmt, files)
        return KeptIdentity(role, env, disk, kept.hostname, kept.address)

    def read(self, name: str, path: str) -> str:
        return self.group.servers[name].file(path).read_text()

    def edit(self, name: str, path: str, text: str) -> None:
        """A hand edit of system file `path` on server `name` (its mode and owner kept)."""
        target = self.group.servers[name].file(path)
        st = target.stat()
        atomic_write(target, text, st.st_mode & 0o7777, (st.st_uid, st.st_gid))

    def history(self, name: str, path: str) -> list[tuple[Change, str]]:
        """The changes of system file `path` in server `name`'s history, newest first, each
        with the file's content then: those of its copy in the server's own snapshot (its
        role at its environment)."""
        server = self.group.servers[name].server(quiet)
        copy = server.sid.area(server.role(), server.env_id).copy_path("SyncFiles", path)
        relpath = str(copy.relative_to(server.sid.root))
        found = []
        for change in server.history.log([relpath]):
            try:
                content = server.history.show(change.rev, relpath).decode(errors="replace")
            except HistoryError:
                content = ""  # removed in that change
            found.append((change, content))
        return found
