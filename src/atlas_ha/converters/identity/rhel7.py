"""The ``rhel7-ifcfg`` identity format: RHEL/Rocky 7 and later with ifcfg files.

``/etc/hostname`` holds the host name (as ``hostnamectl`` writes it);
``/etc/sysconfig/network`` is kept as anaconda leaves it — a comment only — or may hold
``NETWORKING=yes`` and a ``HOSTNAME=`` that must then name the same host (two different names
are refused naming both files: which one the system uses depends on the tool); the
``ifcfg-<device>`` file is read as in ``rhel-ifcfg`` (:mod:`.rhel`). Rendering writes
``/etc/hostname``, a ``/etc/sysconfig/network`` holding only a comment, and the canonical
ifcfg file.

This is a format of its own, not a relaxed ``rhel-ifcfg``: its IdentFilePaths include
``/etc/hostname``, so the snapshots of an EnvVersion declared ``rhel-ifcfg`` keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping

from atlas_ha.converters.identity.model import HOSTNAME_FILE, Identity, _host, _hostname_file
from atlas_ha.converters.identity.rhel import (
    IFCFG_DIR,
    SYSCONFIG_NETWORK,
    network_vars,
    parse_interface,
    render_interface,
)
from atlas_ha.errors import ConversionError

NETWORK_TEXT = "# Created by atlas-ha: the host name is in /etc/hostname\n"


def paths(device: str) -> tuple[str, ...]:
    """The identity files of ``device`` (already validated), in a fixed order."""
    return (HOSTNAME_FILE, SYSCONFIG_NETWORK, f"{IFCFG_DIR}/ifcfg-{device}")


def parse(files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path)."""
    hostname = _hostname_file(files)
    network = network_vars(files)
    if "HOSTNAME" in network:
        line, value = network["HOSTNAME"]
        other = _host(SYSCONFIG_NETWORK, line, value)
        if other != hostname:
            raise ConversionError(
                SYSCONFIG_NETWORK,
                line,
                f"HOSTNAME={other} differs from {HOSTNAME_FILE} ({hostname}): expected the "
                f"same name, or no HOSTNAME= line",
            )
    return parse_interface(files, hostname)


def render(ident: Identity) -> tuple[str, ...]:
    """The canonical texts of the files of :func:`paths`, in the same order."""
    return (f"{ident.hostname}\n", NETWORK_TEXT, render_interface(ident))
