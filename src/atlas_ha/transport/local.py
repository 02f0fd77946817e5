"""The `local` transport: partners on the same machine, reached through the filesystem.

A running server registers each address it answers on in the registry directory (a file
named after the address, holding the path of the server's settings file). Connecting to an
address starts `atlas-ha serve` under the partner's settings, exactly what the ssh
transport's forced command runs on a real partner; pushes are local rsync runs.

The registry is this transport's network and its keys: the session a connection opens acts
for the role of the disk plugged into the server registered at the connecting address
(`Registry.role_at`), as an ssh session acts for the role of the key that logged in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from atlas_ha.errors import (
    AtlasError,
    RefusedError,
    ServerStateError,
    SettingsError,
    TransportError,
)
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.sid import SidData
from atlas_ha.model import Partner
from atlas_ha.settings import Settings, load
from atlas_ha.transport.base import Connection, Transport
from atlas_ha.transport.pipe import PipeConnection

RSYNC = [
    "rsync",
    "-a",
    "--delete",
    "--modify-window=-1",  # compare mtimes to the nanosecond: same-second edits count
    "--numeric-ids",
    "--exclude=/InvalidSend",
    "--exclude=/InvalidSnapshot",
    "--exclude=/InvalidVersions",
    # the sender's temporary files are not sent (hidden, sender side only), and the
    # receiver's, left by a process killed mid-write, are deleted like anything unlisted:
    # an exclude would protect them from --delete and wedge the area
    "--filter=H .*.atlas-tmp.*",
]


class Registry:
    """Which settings file answers on which address (the lab-less 'network')."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lookup(self, address: str) -> Path | None:
        text = read_text_or_none(self.root / address)
        return Path(text.strip()) if text else None

    def register(self, address: str, config: Path) -> None:
        holder = self.lookup(address)
        if holder is not None and holder != config:
            raise ServerStateError(f"address {address} is already answered by {holder}")
        atomic_write(self.root / address, f"{config}\n")

    def role_at(self, address: str) -> str:
        """The role of the disk in the server registered at `address` (what a session from
        that address acts for), or refuse."""
        config = self.lookup(address)
        if config is None:
            raise RefusedError(f"refused {address}: no server is registered at that address")
        try:
            return SidData(load(config).sid_data).master_config().role
        except AtlasError as exc:
            raise RefusedError(f"refused {address}: its role cannot be told: {exc}") from exc

    def unregister(self, config: Path) -> list[str]:
        gone = []
        for entry in sorted(self.root.glob("*")) if self.root.is_dir() else []:
            if self.lookup(entry.name) == config:
                entry.unlink()
                gone.append(entry.name)
        return gone


class LocalConnection(PipeConnection):
    def __init__(self, role: str, address: str, config: Path, own_address: str) -> None:
        argv = [
            sys.executable,
            "-m",
            "atlas_ha",
            "--config",
            str(config),
            "serve",
            "--peer-address",
            own_address,
        ]
        super().__init__(role, address, argv)

    def push(self, source: Path, dest: str) -> None:
        self.run_rsync([*RSYNC, f"{source}/", f"{dest}/"])


def registry_of(settings: Settings) -> Registry:
    """The registry `[transport] registry` names (the local transport's 'network')."""
    path = settings.transport_options.get("registry")
    if not path:
        raise SettingsError(
            f"{settings.config_file}: [transport] registry = a directory "
            "is required for the local transport"
        )
    return Registry(Path(path))


class LocalTransport(Transport):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalTransport:
        return cls(registry_of(settings))

    def connect(self, role: str, partner: Partner, own_address: str) -> Connection:
        config = self.registry.lookup(partner.address)
        if config is None:
            raise TransportError(f"{role} at {partner.address}: unreachable (no server answers)")
        return LocalConnection(role, partner.address, config, own_address)
