"""Suspension of the Synchronizer (SPEC 5.10): the flag file ESD_DATA/Suspended.

An operator suspends a server's Synchronizer by creating ESD_DATA/Suspended (Bound Data:
the suspension belongs to the server, like CurrentRole, not to the disk); its first line
says when, by whom and why. Resume = remove the file. While the flag exists the Verifier's
sentry check reports WARNING on every round, so a suspension is never forgotten.

(The `suspend`/`resume` commands and the cycle loop honouring the flag belong to the daemon
work; this module only defines the flag and reads it.)
"""

from __future__ import annotations

from atlas_ha.layout.atomic import read_text_or_none
from atlas_ha.sync.context import Server

SUSPENDED = "Suspended"


def suspension(server: Server) -> str | None:
    """Why this server's Synchronizer is suspended (its flag's first line), or None."""
    text = read_text_or_none(server.settings.esd_data / SUSPENDED)
    if text is None:
        return None
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return first or "suspended (no reason given)"
