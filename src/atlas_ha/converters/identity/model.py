"""The :class:`Identity` value, its validation, and the parsing helpers shared by the formats.

Comments and blank lines are ignored; every helper that rejects its input raises
:class:`ConversionError` naming the file and the line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from atlas_ha.errors import ConversionError

RHEL = "rhel-ifcfg"
RHEL7 = "rhel7-ifcfg"
DEBIAN = "debian-interfaces"
NETWORKD = "networkd"
NMKEYFILE = "nm-keyfile"
FORMATS: tuple[str, ...] = (RHEL, RHEL7, DEBIAN, NETWORKD, NMKEYFILE)

HOSTNAME_FILE = "/etc/hostname"

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
_DEVICE = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_PREFIX = re.compile(r"[0-9]{1,2}", re.ASCII)
_BLANKS = re.compile(r"[ \t]+")  # the only word separators; other whitespace is an error


@dataclass(frozen=True)
class Identity:
    """One role's identity; every field is validated and in canonical text form."""

    hostname: str
    device: str
    address: str
    prefix: int
    gateway: str | None
    dns: tuple[str, ...]
    search: tuple[str, ...] = ()  # DNS search domains, in order

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise ValueError(f"invalid Identity: {problem}")


# --- validation of single values -------------------------------------------------------------


def _hostname_ok(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _device_ok(device: str) -> bool:
    return _DEVICE.fullmatch(device) is not None and device not in {".", "..", "lo"}


def _ipv4(text: str) -> str | None:
    """The canonical form of a usable IPv4 host address, or None."""
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    return None if addr.is_unspecified else str(addr)


def _dns(text: str) -> str | None:
    """The canonical form of a name server address (IPv4 or IPv6, no scope), or None."""
    if "%" in text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _problem(ident: Identity) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (_hostname_ok(ident.hostname), f"host name {ident.hostname!r}"),
        (_device_ok(ident.device), f"device {ident.device!r}"),
        (_ipv4(ident.address) == ident.address, f"address {ident.address!r}"),
        (0 <= ident.prefix <= 32, f"prefix {ident.prefix!r}"),
        (ident.gateway is None or _ipv4(ident.gateway) == ident.gateway, "gateway"),
        (all(_dns(d) == d for d in ident.dns), f"dns {ident.dns!r}"),
        (all(_hostname_ok(d) for d in ident.search), f"search {ident.search!r}"),
    )
    return next((what for ok, what in checks if not ok), None)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown identity format {fmt!r}; known: {', '.join(FORMATS)}")


# --- shared parsing helpers ---------------------------------------------------------------------

_Lines = list[tuple[int, str]]


def _need(files: Mapping[str, bytes], path: str) -> bytes:
    if path not in files:
        raise ConversionError(path, None, "missing: this identity file is expected")
    return files[path]


def _content(path: str, data: bytes, comment: str = "#") -> _Lines:
    """(line number, stripped text) of every line that is neither blank nor a comment."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConversionError(path, line, "expected UTF-8 text") from None
    stripped = (raw.strip(" \t") for raw in text.split("\n"))
    return [
        (n, line) for n, line in enumerate(stripped, start=1) if line and line[0] not in comment
    ]


def _host(path: str, line: int | None, text: str) -> str:
    if not _hostname_ok(text):
        raise ConversionError(
            path, line, f"expected a host name (RFC 1123 labels, at most 253 chars), got {text!r}"
        )
    return text


def _address(path: str, line: int | None, text: str) -> str:
    value = _ipv4(text)
    if value is None:
        raise ConversionError(path, line, f"expected an IPv4 host address, got {text!r}")
    return value


def _domains(path: str, line: int, words: list[str]) -> tuple[str, ...]:
    """DNS search domains (host-name syntax, a trailing dot allowed and dropped)."""
    found = []
    for word in words:
        name = word[:-1] if word.endswith(".") else word
        if not _hostname_ok(name):
            raise ConversionError(path, line, f"expected a DNS search domain, got {word!r}")
        found.append(name)
    return tuple(found)


def _nameserver(path: str, line: int, text: str) -> str:
    value = _dns(text)
    if value is None:
        raise ConversionError(path, line, f"expected a name server IP address, got {text!r}")
    return value


def _prefix(path: str, line: int, text: str) -> int:
    if _PREFIX.fullmatch(text) is None or int(text) > 32:
        raise ConversionError(path, line, f"expected a prefix length 0..32, got {text!r}")
    return int(text)


def _netmask(path: str, line: int, text: str) -> int:
    """Prefix length of a dotted netmask (contiguous ones) or of a bare prefix length."""
    if _PREFIX.fullmatch(text):
        return _prefix(path, line, text)
    try:
        inverse = ~int(ipaddress.IPv4Address(text)) & 0xFFFFFFFF
    except ValueError:
        inverse = 1 << 32
    if inverse & (inverse + 1):
        raise ConversionError(path, line, f"expected a netmask like 255.255.255.0, got {text!r}")
    return 32 - inverse.bit_length()


def _address_prefix(path: str, line: int, text: str) -> tuple[str, int | None]:
    """``A/P`` -> (A, P); ``A`` -> (A, None)."""
    addr, slash, prefix = text.partition("/")
    return _address(path, line, addr), _prefix(path, line, prefix) if slash else None


def _one_file(found: list[str], default: str) -> str:
    """The single interface file among ``found`` (sorted paths of one directory)."""
    if not found:
        raise ConversionError(default, None, "missing: this identity file is expected")
    if len(found) > 1:
        more = f"a file besides {found[0]} (interface, routes, rules) has no equivalent"
        raise ConversionError(found[1], None, f"{more}; supported: one interface file")
    return found[0]


def _hostname_file(files: Mapping[str, bytes]) -> str:
    lines = _content(HOSTNAME_FILE, _need(files, HOSTNAME_FILE))
    if not lines:
        raise ConversionError(HOSTNAME_FILE, None, "expected one line holding the host name")
    if len(lines) > 1:
        raise ConversionError(HOSTNAME_FILE, lines[1][0], "expected a single host name line")
    return _host(HOSTNAME_FILE, *lines[0])
