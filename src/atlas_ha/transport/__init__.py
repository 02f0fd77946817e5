"""Transports: how a server reaches its partners (local filesystem, or OpenSSH + rsync).

The backends are imported when a transport is made: the ssh forced command imports
`atlas_ha.transport.forced` for every rsync a partner runs, and needs none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atlas_ha.errors import SettingsError

if TYPE_CHECKING:
    from atlas_ha.settings import Settings
    from atlas_ha.transport.base import Transport
    from atlas_ha.transport.local import Registry


def registry_of(settings: Settings) -> Registry:
    from atlas_ha.transport.local import Registry

    path = settings.transport_options.get("registry")
    if not path:
        raise SettingsError(
            f"{settings.config_file}: [transport] registry = a directory "
            "is required for the local transport"
        )
    return Registry(Path(path))


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "local":
        from atlas_ha.transport.local import LocalTransport

        return LocalTransport(registry_of(settings))
    from atlas_ha.transport.ssh import SshTransport

    return SshTransport(settings)


__all__ = ["make_transport", "registry_of"]
