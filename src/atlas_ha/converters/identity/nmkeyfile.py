"""The ``nm-keyfile`` identity format: RHEL/Rocky 9 and later, whose installer (anaconda)
stores the interface as a NetworkManager keyfile.

``/etc/hostname`` holds the host name; ``/etc/NetworkManager/system-connections/<dev>.nmconnection``
(NetworkManager reads it only when owned by root with mode 0600: a converted one gets that
mode, converters/aspects/identity.py) holds one static IPv4 interface:

- ``[connection]``: ``interface-name=<dev>`` matching the file name, ``type=ethernet``; the
  keys anaconda and nmcli write that carry no identity are accepted and normalised away:
  ``id``, ``uuid``, ``timestamp``, ``autoconnect-priority``, ``autoconnect=true``;
- ``[ethernet]``: empty (a ``mac-address`` would bind the role to one machine's card);
- ``[ipv4]``: ``method=manual``, ``address1=A/P`` with the gateway after a comma (or
  ``gateway=``), ``dns=`` and ``dns-search=`` (``;``-separated lists);
- ``[ipv6]``: ``method=auto`` (SLAAC, what every other format does by default) with any
  ``addr-gen-mode``; ``[proxy]``: empty.

Anything else (a second address, DHCP, routes, another section or key) has no equivalent
in the other formats and is refused naming the file and the line. Rendering writes only the
canonical keys (no uuid: NetworkManager derives one from the file's name).
"""

from __future__ import annotations

from collections.abc import Mapping

from atlas_ha.converters.identity.model import (
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

NM_DIR = "/etc/NetworkManager/system-connections"
SUFFIX = ".nmconnection"
FILE_MODE = 0o600  # NetworkManager ignores a keyfile readable by others

# section -> key -> accepted values (None: any value; checked where it is used)
_KEYS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "connection": {
        "id": None,
        "uuid": None,
        "type": ("ethernet", "802-3-ethernet"),
        "interface-name": None,
        "timestamp": None,
        "autoconnect-priority": None,
        "autoconnect": ("true", "yes", "1"),
    },
    "ethernet": {},
    "ipv4": {
        "method": ("manual",),
        "address1": None,
        "gateway": None,
        "dns": None,
        "dns-search": None,
    },
    "ipv6": {
        "method": ("auto",),
        "addr-gen-mode": ("eui64", "stable-privacy", "default", "default-or-eui64", "0", "1"),
    },
    "proxy": {},
}
_Values = dict[tuple[str, str], tuple[int, str]]


def paths(device: str) -> tuple[str, ...]:
    """The identity files of ``device`` (already validated), in a fixed order."""
    return (HOSTNAME_FILE, f"{NM_DIR}/{device}{SUFFIX}")


def _read(path: str, data: bytes) -> _Values:
    values: _Values = {}
    section: str | None = None
    for line, text in _content(path, data, "#;"):
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1]
            if section not in _KEYS:
                supported = ", ".join(f"[{s}]" for s in _KEYS)
                raise ConversionError(
                    path, line, f"section [{section}] has no equivalent; supported: {supported}"
                )
            continue
        key, eq, value = (part.strip(" \t") for part in text.partition("="))
        if section is None or not eq or key not in _KEYS[section]:
            where = f"[{section}]" if section else "before any section"
            known = ", ".join(_KEYS[section]) if section else "none"
            raise ConversionError(
                path, line, f"{text!r} {where} has no equivalent; supported here: {known}"
            )
        allowed = _KEYS[section][key]
        if allowed is not None and value not in allowed:
            raise ConversionError(
                path, line, f"{key}={value} has no equivalent; supported: {' or '.join(allowed)}"
            )
        if (section, key) in values:
            raise ConversionError(path, line, f"[{section}] {key} is set twice")
        values[(section, key)] = (line, value)
    return values


def _need(path: str, values: _Values, section: str, key: str) -> tuple[int, str]:
    if (section, key) not in values:
        raise ConversionError(path, None, f"expected {key}= in [{section}]")
    return values[(section, key)]


def _list(value: str) -> list[str]:
    return [w.strip(" \t") for w in value.replace(",", ";").split(";") if w.strip(" \t")]


def parse(files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path)."""
    hostname = _hostname_file(files)
    found = sorted(p for p in files if p.startswith(NM_DIR + "/"))
    path = _one_file(found, paths("eth0")[1])
    values = _read(path, files[path])
    line, device = _need(path, values, "connection", "interface-name")
    if not _device_ok(device) or path != f"{NM_DIR}/{device}{SUFFIX}":
        raise ConversionError(
            path, line, f"expected interface-name=<dev> matching the file name <dev>{SUFFIX}"
        )
    _need(path, values, "connection", "type")
    _need(path, values, "ipv4", "method")
    line, text = _need(path, values, "ipv4", "address1")
    address_text, comma, gateway_text = (p.strip(" \t") for p in text.partition(","))
    address, prefix = _address_prefix(path, line, address_text)
    gateway = _address(path, line, gateway_text) if comma else None
    if ("ipv4", "gateway") in values:
        n, other = values[("ipv4", "gateway")]
        if gateway is not None:
            raise ConversionError(path, n, "expected the gateway once (address1= or gateway=)")
        gateway = _address(path, n, other)
    dns: list[str] = []
    if ("ipv4", "dns") in values:
        n, value = values[("ipv4", "dns")]
        dns = [_nameserver(path, n, word) for word in _list(value)]
    search: tuple[str, ...] = ()
    if ("ipv4", "dns-search") in values:
        n, value = values[("ipv4", "dns-search")]
        search = _domains(path, n, _list(value))
    return Identity(
        hostname=hostname,
        device=device,
        address=address,
        prefix=32 if prefix is None else prefix,
        gateway=gateway,
        dns=tuple(dns),
        search=search,
    )


def render(ident: Identity) -> tuple[str, ...]:
    """The canonical texts of the files of :func:`paths`, in the same order."""
    gateway = "" if ident.gateway is None else f",{ident.gateway}"
    ipv4 = f"address1={ident.address}/{ident.prefix}{gateway}\n"
    if ident.dns:
        ipv4 += "dns=" + "".join(f"{server};" for server in ident.dns) + "\n"
    if ident.search:
        ipv4 += "dns-search=" + "".join(f"{d};" for d in ident.search) + "\n"
    return (
        f"{ident.hostname}\n",
        f"[connection]\nid={ident.device}\ntype=ethernet\ninterface-name={ident.device}\n\n"
        f"[ethernet]\n\n[ipv4]\n{ipv4}method=manual\n\n"
        "[ipv6]\naddr-gen-mode=eui64\nmethod=auto\n\n[proxy]\n",
    )
