"""This server's own address: from the settings, else from the identity installed in the OS."""

from __future__ import annotations

from atlas_ha.context import Server
from atlas_ha.converters import identity
from atlas_ha.errors import ConversionError, ServerStateError


def own_address(server: Server) -> str:
    if server.settings.address:
        return server.settings.address
    env = server.envs[server.env_id]
    fmt = env.formats["identity"]
    root = server.settings.system_root
    files = {}
    for path in identity.paths(fmt, env.device):
        try:
            files[path] = (root / path.lstrip("/")).read_bytes()
        except FileNotFoundError:
            continue
    try:
        return identity.parse(fmt, files).address
    except ConversionError as exc:
        raise ServerStateError(
            f"cannot tell this server's address from its identity: {exc}"
        ) from exc
