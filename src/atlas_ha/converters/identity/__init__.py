"""The network identity of a role (host name, one static IPv4 interface) in three formats.

Formats (names as used in envs.toml):

- ``rhel-ifcfg``: ``/etc/sysconfig/network`` (``NETWORKING=yes``, ``HOSTNAME=``) and
  ``/etc/sysconfig/network-scripts/ifcfg-<dev>`` (``DEVICE``, ``BOOTPROTO=none``,
  ``ONBOOT=yes``, ``IPADDR``, ``PREFIX`` or ``NETMASK``, ``GATEWAY``, ``DNS1``, ``DNS2``, ...).
  Values may be double- or single-quoted; shell expansion is not supported.
- ``rhel7-ifcfg``: RHEL/Rocky 7 and later: ``/etc/hostname``, ``/etc/sysconfig/network`` as
  anaconda leaves it (a comment; a ``HOSTNAME=`` there must agree) and the same
  ``ifcfg-<dev>`` file (:mod:`.rhel7`).
- ``debian-interfaces``: ``/etc/hostname`` and ``/etc/network/interfaces`` with the loopback
  stanza and one ``auto <dev>`` / ``iface <dev> inet static`` stanza holding ``address A/P``
  (or ``address A`` + ``netmask M``), ``gateway`` and ``dns-nameservers``.
- ``nm-keyfile``: RHEL/Rocky 9 and later: ``/etc/hostname`` and the NetworkManager keyfile
  ``/etc/NetworkManager/system-connections/<dev>.nmconnection`` (:mod:`.nmkeyfile`).
- ``networkd``: ``/etc/hostname`` and ``/etc/systemd/network/10-<dev>.network`` with
  ``[Match] Name=<dev>`` and ``[Network] Address=A/P``, ``Gateway=``, ``DNS=`` (repeatable).

Comments and blank lines are ignored; anything else that is not listed above (a second
interface, DHCP, IPv6 addresses, routes, hook commands, ...) has no equivalent in the other
formats and raises :class:`ConversionError` naming the file and the line. Nothing is invented.

Layout: :mod:`.model` holds :class:`Identity`, its validation and the shared parsing helpers;
:mod:`.rhel`, :mod:`.debian` and :mod:`.networkd` each hold one format's ``paths``, ``parse``
and ``render``; this module dispatches on the format name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from atlas_ha.converters.identity import debian, networkd, nmkeyfile, rhel, rhel7
from atlas_ha.converters.identity.debian import INTERFACES
from atlas_ha.converters.identity.model import (
    DEBIAN,
    FORMATS,
    HOSTNAME_FILE,
    NETWORKD,
    NMKEYFILE,
    RHEL,
    RHEL7,
    Identity,
    _check_format,
    _device_ok,
)
from atlas_ha.converters.identity.networkd import NETWORKD_DIR
from atlas_ha.converters.identity.rhel import IFCFG_DIR, SYSCONFIG_NETWORK

_Paths = Callable[[str], tuple[str, ...]]
_PATHS: dict[str, _Paths] = {
    RHEL: rhel.paths,
    RHEL7: rhel7.paths,
    DEBIAN: debian.paths,
    NETWORKD: networkd.paths,
    NMKEYFILE: nmkeyfile.paths,
}
_Parser = Callable[[Mapping[str, bytes]], Identity]
_PARSERS: dict[str, _Parser] = {
    RHEL: rhel.parse,
    RHEL7: rhel7.parse,
    DEBIAN: debian.parse,
    NETWORKD: networkd.parse,
    NMKEYFILE: nmkeyfile.parse,
}
_Renderer = Callable[[Identity], tuple[str, ...]]
_RENDERERS: dict[str, _Renderer] = {
    RHEL: rhel.render,
    RHEL7: rhel7.render,
    DEBIAN: debian.render,
    NETWORKD: networkd.render,
    NMKEYFILE: nmkeyfile.render,
}


def paths(fmt: str, device: str = "eth0") -> tuple[str, ...]:
    """The absolute system paths of the identity files of ``fmt``, in a fixed order."""
    _check_format(fmt)
    if not _device_ok(device):
        raise ValueError(f"invalid device name {device!r}")
    return _PATHS[fmt](device)


def private_paths(fmt: str, device: str = "eth0") -> tuple[str, ...]:
    """The identity files of ``fmt`` that must be readable by root only (mode 0600)."""
    return paths(fmt, device)[1:] if fmt == NMKEYFILE else ()


def parse(fmt: str, files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path) in format ``fmt``."""
    _check_format(fmt)
    return _PARSERS[fmt](files)


def render(fmt: str, ident: Identity) -> dict[str, bytes]:
    """The canonical identity files of ``ident`` in format ``fmt``, keyed by path."""
    _check_format(fmt)
    texts = _RENDERERS[fmt](ident)
    return {path: text.encode() for path, text in zip(paths(fmt, ident.device), texts, strict=True)}


def convert(src_fmt: str, dst_fmt: str, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The identity files of ``files`` (format ``src_fmt``) rewritten in ``dst_fmt``."""
    return render(dst_fmt, parse(src_fmt, files))


def address_of(fmt: str, files: Mapping[str, bytes]) -> str:
    """The IPv4 address of the identity held in ``files``."""
    return parse(fmt, files).address


__all__ = [
    "DEBIAN",
    "FORMATS",
    "HOSTNAME_FILE",
    "IFCFG_DIR",
    "INTERFACES",
    "NETWORKD",
    "NETWORKD_DIR",
    "NMKEYFILE",
    "RHEL",
    "RHEL7",
    "SYSCONFIG_NETWORK",
    "Identity",
    "address_of",
    "convert",
    "parse",
    "paths",
    "private_paths",
    "render",
]
