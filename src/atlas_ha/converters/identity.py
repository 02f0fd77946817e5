"""The network identity of a role (host name, one static IPv4 interface) in three formats.

Formats (names as used in envs.toml):

- ``rhel-ifcfg``: ``/etc/sysconfig/network`` (``NETWORKING=yes``, ``HOSTNAME=``) and
  ``/etc/sysconfig/network-scripts/ifcfg-<dev>`` (``DEVICE``, ``BOOTPROTO=none``,
  ``ONBOOT=yes``, ``IPADDR``, ``PREFIX`` or ``NETMASK``, ``GATEWAY``, ``DNS1``, ``DNS2``, ...).
  Values may be double- or single-quoted; shell expansion is not supported.
- ``debian-interfaces``: ``/etc/hostname`` and ``/etc/network/interfaces`` with the loopback
  stanza and one ``auto <dev>`` / ``iface <dev> inet static`` stanza holding ``address A/P``
  (or ``address A`` + ``netmask M``), ``gateway`` and ``dns-nameservers``.
- ``networkd``: ``/etc/hostname`` and ``/etc/systemd/network/10-<dev>.network`` with
  ``[Match] Name=<dev>`` and ``[Network] Address=A/P``, ``Gateway=``, ``DNS=`` (repeatable).

Comments and blank lines are ignored; anything else that is not listed above (a second
interface, DHCP, IPv6 addresses, routes, hook commands, ...) has no equivalent in the other
formats and raises :class:`ConversionError` naming the file and the line. Nothing is invented.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from atlas_ha.errors import ConversionError

RHEL = "rhel-ifcfg"
DEBIAN = "debian-interfaces"
NETWORKD = "networkd"
FORMATS: tuple[str, ...] = (RHEL, DEBIAN, NETWORKD)

SYSCONFIG_NETWORK = "/etc/sysconfig/network"
IFCFG_DIR = "/etc/sysconfig/network-scripts"
HOSTNAME_FILE = "/etc/hostname"
INTERFACES = "/etc/network/interfaces"
NETWORKD_DIR = "/etc/systemd/network"

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
_DEVICE = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_PREFIX = re.compile(r"[0-9]{1,2}", re.ASCII)
_ASSIGN = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)="
    r"(?:\"([^\"\\$`]*)\"|'([^']*)'|([^\s\"'\\$`#;&|<>()]*))"
    r"(?:[ \t]+#.*)?",
    re.ASCII,
)
_DNS_KEY = re.compile(r"DNS([1-9][0-9]{0,2})", re.ASCII)
_BLANKS = re.compile(r"[ \t]+")  # the only word separators; other whitespace is an error
# RHEL network-scripts files that configure an interface, a route or a rule.
_RHEL_CONFIG_PREFIXES = ("ifcfg-", "route-", "route6-", "rule-", "rule6-")


@dataclass(frozen=True)
class Identity:
    """One role's identity; every field is validated and in canonical text form."""

    hostname: str
    device: str
    address: str
    prefix: int
    gateway: str | None
    dns: tuple[str, ...]

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
    )
    return next((what for ok, what in checks if not ok), None)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown identity format {fmt!r}; known: {', '.join(FORMATS)}")


# --- public API ---------------------------------------------------------------------------------


def paths(fmt: str, device: str = "eth0") -> tuple[str, ...]:
    """The absolute system paths of the identity files of ``fmt``, in a fixed order."""
    _check_format(fmt)
    if not _device_ok(device):
        raise ValueError(f"invalid device name {device!r}")
    if fmt == RHEL:
        return (SYSCONFIG_NETWORK, f"{IFCFG_DIR}/ifcfg-{device}")
    if fmt == DEBIAN:
        return (HOSTNAME_FILE, INTERFACES)
    return (HOSTNAME_FILE, f"{NETWORKD_DIR}/10-{device}.network")


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


# --- rhel-ifcfg ---------------------------------------------------------------------------------

_Vars = dict[str, tuple[int, str]]


def _shell_vars(path: str, data: bytes, known: tuple[str, ...], dns: bool = False) -> _Vars:
    """KEY=value assignments of a sysconfig file; unknown keys and duplicates are errors.

    With ``dns``, the numbered keys DNS1, DNS2, ... are accepted too.
    """
    out: _Vars = {}
    for line, text in _content(path, data):
        match = _ASSIGN.fullmatch(text)
        if match is None:
            raise ConversionError(path, line, "expected KEY=value (quoted or not, no expansion)")
        key = match.group(1)
        if key not in known and not (dns and _DNS_KEY.fullmatch(key)):
            supported = ", ".join(known + (("DNS1", "DNS2", "...") if dns else ()))
            raise ConversionError(
                path, line, f"{key} has no equivalent in the other formats; supported: {supported}"
            )
        if key in out:
            raise ConversionError(path, line, f"{key} is set twice (first on line {out[key][0]})")
        value = next(v for v in match.group(2, 3, 4) if v is not None)
        out[key] = (line, value)
    return out


def _require(path: str, env: _Vars, key: str) -> tuple[int, str]:
    if key not in env:
        raise ConversionError(path, None, f"expected {key}=")
    return env[key]


def _expect_value(path: str, env: _Vars, key: str, allowed: tuple[str, ...]) -> None:
    if key in env and env[key][1] not in allowed:
        line, value = env[key]
        raise ConversionError(
            path, line, f"{key}={value} has no equivalent; supported: {' or '.join(allowed)}"
        )


_NETWORK_KEYS = ("NETWORKING", "HOSTNAME")
_IFCFG_KEYS = ("DEVICE", "BOOTPROTO", "ONBOOT", "IPADDR", "PREFIX", "NETMASK", "GATEWAY")


def _rhel_dns(path: str, env: _Vars) -> tuple[str, ...]:
    numbered = {int(m.group(1)): k for k in env if (m := _DNS_KEY.fullmatch(k))}
    for index in range(1, len(numbered) + 1):
        if index not in numbered:
            line = env[numbered[max(numbered)]][0]
            raise ConversionError(
                path, line, f"expected DNS1..DNSn without gaps; DNS{index} absent"
            )
    return tuple(_nameserver(path, *env[numbered[i]]) for i in sorted(numbered))


def _rhel_prefix(path: str, env: _Vars) -> int:
    if "PREFIX" in env and "NETMASK" in env:
        raise ConversionError(path, env["NETMASK"][0], "expected PREFIX or NETMASK, not both")
    if "PREFIX" in env:
        return _prefix(path, *env["PREFIX"])
    if "NETMASK" in env:
        return _netmask(path, *env["NETMASK"])
    raise ConversionError(path, None, "expected PREFIX= or NETMASK=")


def _parse_rhel(files: Mapping[str, bytes]) -> Identity:
    network = _shell_vars(SYSCONFIG_NETWORK, _need(files, SYSCONFIG_NETWORK), _NETWORK_KEYS)
    _require(SYSCONFIG_NETWORK, network, "NETWORKING")
    _expect_value(SYSCONFIG_NETWORK, network, "NETWORKING", ("yes",))
    hostname = _host(SYSCONFIG_NETWORK, *_require(SYSCONFIG_NETWORK, network, "HOSTNAME"))
    found = sorted(
        p
        for p in files
        if p.startswith(IFCFG_DIR + "/")
        and p[len(IFCFG_DIR) + 1 :].startswith(_RHEL_CONFIG_PREFIXES)
    )
    path = _one_file(found, paths(RHEL)[1])
    device = path[len(IFCFG_DIR) + 1 :].partition("-")[2]
    if not path.startswith(f"{IFCFG_DIR}/ifcfg-") or not _device_ok(device):
        raise ConversionError(path, None, "has no equivalent; supported: one ifcfg-<device> file")
    env = _shell_vars(path, files[path], _IFCFG_KEYS, dns=True)
    line, value = _require(path, env, "DEVICE")
    if value != device:
        raise ConversionError(path, line, f"expected DEVICE={device} (the file's name)")
    _expect_value(path, env, "BOOTPROTO", ("none", "static"))
    _expect_value(path, env, "ONBOOT", ("yes",))
    gateway = env.get("GATEWAY")
    return Identity(
        hostname=hostname,
        device=device,
        address=_address(path, *_require(path, env, "IPADDR")),
        prefix=_rhel_prefix(path, env),
        gateway=None if gateway is None else _address(path, *gateway),
        dns=_rhel_dns(path, env),
    )


def _render_rhel(ident: Identity) -> tuple[str, ...]:
    gateway = "" if ident.gateway is None else f"GATEWAY={ident.gateway}\n"
    dns = "".join(f"DNS{i}={server}\n" for i, server in enumerate(ident.dns, start=1))
    return (
        f"NETWORKING=yes\nHOSTNAME={ident.hostname}\n",
        f"DEVICE={ident.device}\nBOOTPROTO=none\nONBOOT=yes\n"
        f"IPADDR={ident.address}\nPREFIX={ident.prefix}\n{gateway}{dns}",
    )


# --- debian-interfaces --------------------------------------------------------------------------

_DEBIAN_OPTIONS = ("address", "netmask", "gateway", "dns-nameservers")


@dataclass
class _Stanzas:
    """What was read from /etc/network/interfaces, with the line of each item."""

    auto: dict[str, int] = field(default_factory=dict)
    device: str | None = None
    iface_line: int = 0
    lo_seen: bool = False
    options: dict[str, tuple[int, str]] = field(default_factory=dict)
    dns: list[str] = field(default_factory=list)


def _debian_iface(st: _Stanzas, line: int, words: list[str]) -> str:
    """Handle ``iface NAME inet METHOD``; returns the stanza now open."""
    if len(words) != 4:
        raise ConversionError(INTERFACES, line, "expected 'iface <name> inet static|loopback'")
    name, family, method = words[1:]
    if family != "inet":
        raise ConversionError(INTERFACES, line, f"address family {family!r} has no equivalent")
    if name == "lo" and method == "loopback" and not st.lo_seen:
        st.lo_seen = True
        return "lo"
    if name == "lo" or st.device is not None or not _device_ok(name):
        what = f"a second interface stanza ({name}) has no equivalent"
        raise ConversionError(INTERFACES, line, f"{what}; supported: lo and one static interface")
    if method != "static":
        raise ConversionError(INTERFACES, line, f"method {method!r} has no equivalent; use static")
    st.device, st.iface_line = name, line
    return name


def _debian_option(st: _Stanzas, line: int, words: list[str]) -> None:
    key = words[0]
    if key not in _DEBIAN_OPTIONS:
        supported = ", ".join(_DEBIAN_OPTIONS)
        raise ConversionError(
            INTERFACES, line, f"'{key}' has no equivalent; supported: {supported}"
        )
    if len(words) < 2 or (key != "dns-nameservers" and len(words) != 2):
        raise ConversionError(INTERFACES, line, f"expected '{key}' and one value")
    if key == "dns-nameservers":
        st.dns.extend(_nameserver(INTERFACES, line, w) for w in words[1:])
    elif key in st.options:
        raise ConversionError(INTERFACES, line, f"'{key}' appears twice in the stanza")
    else:
        st.options[key] = (line, words[1])


def _debian_read(data: bytes) -> _Stanzas:
    st = _Stanzas()
    current: str | None = None
    for line, text in _content(INTERFACES, data):
        words = _BLANKS.split(text)
        if text.endswith("\\"):
            raise ConversionError(INTERFACES, line, "expected a stanza or an option line")
        if words[0] == "auto" and len(words) > 1:
            st.auto.update((name, line) for name in words[1:] if name not in st.auto)
            current = None
        elif words[0] == "iface":
            current = _debian_iface(st, line, words)
        elif current is None or current == "lo":
            supported = "auto, iface lo inet loopback, one iface <dev> inet static"
            raise ConversionError(
                INTERFACES, line, f"'{words[0]}' has no equivalent; supported: {supported}"
            )
        else:
            _debian_option(st, line, words)
    return st


def _debian_prefix(options: dict[str, tuple[int, str]], given: int | None) -> int:
    if "netmask" in options:
        line, mask = options["netmask"]
        if given is not None:
            raise ConversionError(INTERFACES, line, "expected 'address A/P' or a netmask, not both")
        return _netmask(INTERFACES, line, mask)
    if given is None:
        raise ConversionError(INTERFACES, options["address"][0], "expected 'address A/P'")
    return given


def _parse_debian(files: Mapping[str, bytes]) -> Identity:
    hostname = _hostname_file(files)
    st = _debian_read(_need(files, INTERFACES))
    if st.device is None:
        raise ConversionError(INTERFACES, None, "expected an 'iface <dev> inet static' stanza")
    for name, line in st.auto.items():
        if name not in {"lo", st.device}:
            raise ConversionError(INTERFACES, line, f"'auto {name}': a second interface")
    if st.device not in st.auto:
        raise ConversionError(INTERFACES, st.iface_line, f"expected 'auto {st.device}'")
    if "address" not in st.options:
        raise ConversionError(INTERFACES, st.iface_line, "expected an 'address' option")
    address, given = _address_prefix(INTERFACES, *st.options["address"])
    gateway = st.options.get("gateway")
    return Identity(
        hostname=hostname,
        device=st.device,
        address=address,
        prefix=_debian_prefix(st.options, given),
        gateway=None if gateway is None else _address(INTERFACES, *gateway),
        dns=tuple(st.dns),
    )


def _render_debian(ident: Identity) -> tuple[str, ...]:
    gateway = "" if ident.gateway is None else f"    gateway {ident.gateway}\n"
    dns = f"    dns-nameservers {' '.join(ident.dns)}\n" if ident.dns else ""
    return (
        f"{ident.hostname}\n",
        f"auto lo\niface lo inet loopback\n\nauto {ident.device}\n"
        f"iface {ident.device} inet static\n    address {ident.address}/{ident.prefix}\n"
        f"{gateway}{dns}",
    )


# --- networkd -----------------------------------------------------------------------------------

_NETWORKD_KEYS = {"Match": ("Name",), "Network": ("Address", "Gateway", "DNS")}


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
            supported = "[Match] Name=, [Network] Address=, Gateway=, DNS="
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


def _parse_networkd(files: Mapping[str, bytes]) -> Identity:
    hostname = _hostname_file(files)
    found = sorted(p for p in files if p.startswith(NETWORKD_DIR + "/"))
    path = _one_file(found, paths(NETWORKD)[1])
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
    return Identity(
        hostname=hostname,
        device=device,
        address=address,
        prefix=32 if prefix is None else prefix,
        gateway=_address(path, *gateway) if gateway else None,
        dns=tuple(dns),
    )


def _render_networkd(ident: Identity) -> tuple[str, ...]:
    gateway = "" if ident.gateway is None else f"Gateway={ident.gateway}\n"
    dns = "".join(f"DNS={server}\n" for server in ident.dns)
    return (
        f"{ident.hostname}\n",
        f"[Match]\nName={ident.device}\n\n[Network]\nAddress={ident.address}/{ident.prefix}\n"
        f"{gateway}{dns}",
    )


_Parser = Callable[[Mapping[str, bytes]], Identity]
_PARSERS: dict[str, _Parser] = {RHEL: _parse_rhel, DEBIAN: _parse_debian, NETWORKD: _parse_networkd}
_Renderer = Callable[[Identity], tuple[str, ...]]
_RENDERERS: dict[str, _Renderer] = {
    RHEL: _render_rhel,
    DEBIAN: _render_debian,
    NETWORKD: _render_networkd,
}
