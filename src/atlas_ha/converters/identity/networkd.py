"""The ``networkd`` identity format.

``/etc/hostname`` and ``/etc/systemd/network/10-<dev>.network`` with
``[Match] Name=<dev>`` and ``[Network] Address=A/P``, ``Gateway=``, ``DNS=`` (repeatable),
``Domains=`` (search domains). ``DHCP=no`` (the default) is accepted and normalised away;
routing domains (``~example.org``) and every other key have no equivalent and are refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from atlas_ha.converters.identity.model import (
    _BLANKS,
    HOSTNAME_FILE,
    Identity,
    _address,
    _address_prefix,
    _content,
    _device_ok,
    _domains,
    _hostname_file,
    _nameserver,
    _one_file,
)
from atlas_ha.errors import ConversionError

NETWORKD_DIR = "/etc/systemd/network"

_NETWORKD_KEYS = {
    "Match": ("Name",),
    "Network": ("Address", "Gateway", "DNS", "Domains", "DHCP"),
}


def paths(device: str) -> tuple[str, ...]:
    """The identity files of ``device`` (already validated), in a fixed order."""
    return (HOSTNAME_FILE, f"{NETWORKD_DIR}/10-{device}.network")


def _networkd_read(path: str, data: bytes) -> dict[str, list[tuple[int, str]]]:
    """Key -> [(line, value)] of a .network file; unknown sections and keys are errors."""
    values: dict[str, list[tuple[int, str]]] = {}
    section: str | None = None
    for line, text in _content(path, data, "#;"):
        if text.endswith("\\"):
            raise ConversionError(path, line, "line continuations are not supported")
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1]
            if section not in _NETWORKD_KEYS:
                what = f"section [{section}] has no equivalent"
                raise ConversionError(path, line, f"{what}; supported: [Match], [Network]")
            continue
        key, eq, value = (part.strip(" \t") for part in text.partition("="))
        if section is None or not eq or key not in _NETWORKD_KEYS[section]:
            where = f"[{section}]" if section else "before any section"
            supported = "[Match] Name=, [Network] Address=, Gateway=, DNS=, Domains=, DHCP=no"
            what = f"{text!r} {where} has no equivalent"
            raise ConversionError(path, line, f"{what}; supported: {supported}")
        if not value:
            raise ConversionError(path, line, f"expected a value after {key}= (no list reset)")
        values.setdefault(key, []).append((line, value))
    return values


def _single(path: str, values: dict[str, list[tuple[int, str]]], key: str) -> tuple[int, str]:
    if key not in values:
        raise ConversionError(path, None, f"expected {key}=")
    if len(values[key]) > 1:
        raise ConversionError(path, values[key][1][0], f"a second {key}= has no equivalent")
    line, value = values[key][0]
    if len(_BLANKS.split(value)) != 1:
        raise ConversionError(path, line, f"expected a single value for {key}=")
    return line, value


def parse(files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path)."""
    hostname = _hostname_file(files)
    found = sorted(p for p in files if p.startswith(NETWORKD_DIR + "/"))
    path = _one_file(found, paths("eth0")[1])
    values = _networkd_read(path, files[path])
    line, device = _single(path, values, "Name")
    if not _device_ok(device) or path != f"{NETWORKD_DIR}/10-{device}.network":
        raise ConversionError(path, line, "expected Name=<dev> matching the file name 10-<dev>")
    line, text = _single(path, values, "Address")
    address, prefix = _address_prefix(path, line, text)
    gateway = _single(path, values, "Gateway") if "Gateway" in values else None
    dns = [
        _nameserver(path, n, word) for n, v in values.get("DNS", []) for word in _BLANKS.split(v)
    ]
    for n, value in values.get("DHCP", []):
        if value not in ("no", "false"):
            raise ConversionError(path, n, f"DHCP={value} has no equivalent; supported: DHCP=no")
    search = [d for n, v in values.get("Domains", []) for d in _domains(path, n, _BLANKS.split(v))]
    return Identity(
        hostname=hostname,
        device=device,
        address=address,
        prefix=32 if prefix is None else prefix,
        gateway=_address(path, *gateway) if gateway else None,
        dns=tuple(dns),
        search=tuple(search),
    )


def render(ident: Identity) -> tuple[str, ...]:
    """The canonical texts of the files of :func:`paths`, in the same order."""
    gateway = "" if ident.gateway is None else f"Gateway={ident.gateway}\n"
    dns = "".join(f"DNS={server}\n" for server in ident.dns)
    if ident.search:
        dns += f"Domains={' '.join(ident.search)}\n"
    return (
        f"{ident.hostname}\n",
        f"[Match]\nName={ident.device}\n\n[Network]\nAddress={ident.address}/{ident.prefix}\n"
        f"{gateway}{dns}",
    )
