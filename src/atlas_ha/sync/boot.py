"""`atlas-ha boot` and `atlas-ha shutdown`: Role/Identity Install, then (local transport)
answer on the address the installed identity gives; shutting down stops answering.

The local transport's "network" is its address registry (`[transport] registry`): a server
answers on an address while the registry names its settings file there."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from atlas_ha.context import Server
from atlas_ha.sync.address import own_address
from atlas_ha.sync.identity import IdentityResult, identity_install
from atlas_ha.transport.local import registry_of


@dataclass(frozen=True)
class Booted:
    identity: IdentityResult
    answering_on: str | None  # the local transport's address; None for other transports

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.identity), "answering_on": self.answering_on}


def boot(server: Server) -> Booted:
    """Role/Identity Install (SPEC 5.1); on the local transport, then answer on the address."""
    result = identity_install(server)
    address = None
    if server.settings.transport == "local":
        address = own_address(server)
        registry_of(server.settings).register(address, server.settings.config_file)
    return Booted(result, address)


def shutdown(server: Server) -> list[str]:
    """Stop answering on the local transport: the addresses no longer answered on."""
    return registry_of(server.settings).unregister(server.settings.config_file)
