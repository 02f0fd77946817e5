"""This server's own address: from the settings, else from the identity installed in the OS."""

from __future__ import annotations

import errno
import ipaddress
import socket

from atlas_ha.context import Server
from atlas_ha.converters import identity
from atlas_ha.errors import ConversionError, GuardError, ServerStateError


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


def check_address_here(server: Server, what: str) -> str:
    """Refuse `what` (before it changes anything) when this host has no interface with this
    server's own address and the transport connects from it (ssh with `bind = "own"`, the
    default: partners accept a role only from the role's address). Returns the address.

    The check binds a socket to the address (port 0, nothing sent): the kernel refuses an
    address no interface has (unless net.ipv4.ip_nonlocal_bind is set)."""
    address = own_address(server)
    settings = server.settings
    if settings.transport != "ssh" or settings.transport_options.get("bind", "own") != "own":
        return address
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        return address  # a name: ssh resolves it; nothing to check here
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            source = "settings `address`" if settings.address else "the installed identity"
            raise GuardError(
                f"{what} refused: no interface of this host has the address {address} (from "
                f"{source}); partners accept this role only from it. Is the role's identity "
                "installed (`atlas-ha boot`) and the network up (`ip -br addr`)?"
            ) from exc
    return address
