"""The verifier plugin contract (SPEC 8.1) and discovery through Python entry points.

A verifier kind is a class registered in the entry point group "atlas_ha.verifiers" under its
kind name (a third party adds one in its own pyproject.toml)::

    [project.entry-points."atlas_ha.verifiers"]
    http = "atlas_ha.verifier.kinds.http:HttpVerifier"

It has two modes:

- SetUp (PRI only, before every Snapshot Create, SPEC 8.2): install the service's test data
  where the service's configuration says, and return the config paths and test data paths
  to sync. It must not raise for a broken service: Verify reports it.
- Verify (every server, against its partners and/or itself, SPEC 8.3): exercise the service
  through its real client protocol at `target` and return a Profile. It must finish within
  `service.timeout` (socket timeouts); the scheduler abandons it anyway after that.

`after_install` (optional) applies verifier data that cannot be a plain file on a SEC after
a Snapshot Install (e.g. a verifier table in PostgreSQL).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from atlas_ha import plugins
from atlas_ha.errors import AtlasError, PluginError, UnknownKindError
from atlas_ha.verifier.profile import Profile
from atlas_ha.verifier.services import ServiceDef

if TYPE_CHECKING:
    from atlas_ha.context import Server

GROUP = plugins.VERIFIERS


@dataclass(frozen=True)
class Target:
    """What one check exercises: a partner (or this server itself) by role and address."""

    role: str
    address: str
    env: int | None = None  # its EnvVersion when known (SnapshotEnvVersion of its area)
    own: bool = False  # True when a server verifies itself
    ssh_port: int | None = None
    ssh_user: str | None = None


@dataclass(frozen=True)
class Context:
    """What a verifier may use; every side effect goes through `server` (runner, clock)."""

    server: Server
    role: str  # this server's role
    token: str = ""  # this cycle's verifier token (SetUp); empty in Verify mode
    state_dir: Path = Path()  # SID_DATA/.results/verifier: private, not synced

    @property
    def system_root(self) -> Path:
        return self.server.settings.system_root

    def in_root(self, system_path: str) -> Path:
        return self.system_root / system_path.lstrip("/")

    def read_secret(self, system_path: str) -> str:
        """A password file of the system root (stripped); it must be mode 0600 or stricter."""
        fs_path = self.in_root(system_path)
        try:
            st = fs_path.stat()
            text = fs_path.read_text().strip()
        except OSError as exc:
            raise AtlasError(f"password file {system_path}: {exc.strerror}") from exc
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise AtlasError(f"password file {system_path} must be mode 0600")
        return text


@dataclass
class SetUpResult:
    configs: list[str] = field(default_factory=list)  # absolute paths in the system root
    data: list[str] = field(default_factory=list)  # test data paths
    notes: list[str] = field(default_factory=list)  # what could not be set up, for the log


class Verifier:
    """Base class of verifier kinds: SetUp and after_install do nothing unless overridden."""

    kind: ClassVar[str] = ""
    default_targets: ClassVar[str] = "partners"  # partners | self | all

    def setup(self, ctx: Context, service: ServiceDef) -> SetUpResult:
        return SetUpResult(configs=list(service.configs))

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        raise NotImplementedError

    def after_install(self, ctx: Context, service: ServiceDef, changed: list[str]) -> list[str]:
        """Apply SEC-side verifier data; returns what it did, for the log."""
        return []


def discover() -> dict[str, type[Verifier]]:
    """Every installed verifier kind that loads, by name (built-in and third-party entry
    points, `plugins.VERIFIERS`); a kind that cannot load is left out (`verifier_for` says
    why when a service needs it)."""
    loaded, _disabled = plugins.load_all(plugins.VERIFIERS)
    kinds: dict[str, type[Verifier]] = {}
    for name, kind in loaded.items():
        if not (isinstance(kind, type) and issubclass(kind, Verifier)):
            raise PluginError(f"{plugins.VERIFIERS}: backend {name!r} is not a Verifier class")
        kinds[name] = kind
    return kinds


def verifier_for(service: ServiceDef, kinds: dict[str, type[Verifier]]) -> Verifier:
    if service.kind in kinds:
        return kinds[service.kind]()
    if service.kind in plugins.names(plugins.VERIFIERS):
        plugins.load(plugins.VERIFIERS, service.kind)  # raises why it cannot load
    raise UnknownKindError(
        f"service {service.name}: no verifier of kind {service.kind!r} is installed "
        f"(installed: {', '.join(sorted(kinds)) or 'none'})"
    )
