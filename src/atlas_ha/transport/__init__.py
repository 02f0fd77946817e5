"""Transports: how a server reaches its partners (local filesystem, or OpenSSH + rsync)."""

from __future__ import annotations

from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.settings import Settings
from atlas_ha.transport.base import Connection, Transport
from atlas_ha.transport.local import LocalTransport, Registry


def registry_of(settings: Settings) -> Registry:
    path = settings.transport_options.get("registry")
    if not path:
        raise SettingsError(
            f"{settings.config_file}: [transport] registry = a directory "
            "is required for the local transport"
        )
    return Registry(Path(path))


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "local":
        return LocalTransport(registry_of(settings))
    from atlas_ha.transport.ssh import SshTransport

    return SshTransport(settings)


__all__ = ["Connection", "Transport", "make_transport", "registry_of"]
