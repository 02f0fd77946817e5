"""Transports: how a server reaches its partners (local filesystem, or OpenSSH + rsync).

A transport is a plugin (`plugins.TRANSPORTS`): a `transport.base.Transport` class named by
`[transport] kind` in the settings. Nothing is imported until a transport is made: the ssh
forced command imports `atlas_ha.transport.forced` for every rsync a partner runs, and needs
none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atlas_ha import plugins
from atlas_ha.errors import PluginError

if TYPE_CHECKING:
    from atlas_ha.settings import Settings
    from atlas_ha.transport.base import Transport


def make_transport(settings: Settings) -> Transport:
    """The transport `[transport] kind` names, made from the settings."""
    from atlas_ha.transport.base import Transport

    kind = plugins.load(plugins.TRANSPORTS, settings.transport)
    if not (isinstance(kind, type) and issubclass(kind, Transport)):
        raise PluginError(f"{plugins.TRANSPORTS}: {settings.transport!r} is not a Transport")
    return kind.from_settings(settings)


__all__ = ["make_transport"]
