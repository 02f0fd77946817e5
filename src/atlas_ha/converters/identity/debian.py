"""The ``debian-interfaces`` identity format.

``/etc/hostname`` and ``/etc/network/interfaces`` with the loopback stanza and one
``auto <dev>`` (or ``allow-hotplug <dev>``) / ``iface <dev> inet static`` stanza holding
``address A/P`` (or ``address A`` + ``netmask M``), ``gateway``, ``dns-nameservers`` and
``dns-search``.

What the Debian installer writes is accepted: comments anywhere, ``allow-hotplug`` (it brings
the interface up at boot as ``auto`` does; normalised to ``auto``) and the stock include
``source /etc/network/interfaces.d/*`` (or ``source-directory /etc/network/interfaces.d``).
The included files are the server's own, not part of the identity: the include line is
normalised away (rendering writes none), so on a Debian server an Identity Install leaves
whatever ``interfaces.d`` holds unread — ``atlas-ha init`` reports such files. Any other
``source`` has no equivalent and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    _need,
    _netmask,
)
from atlas_ha.errors import ConversionError

INTERFACES = "/etc/network/interfaces"

_DEBIAN_OPTIONS = ("address", "netmask", "gateway", "dns-nameservers", "dns-search")
_LISTS = ("dns-nameservers", "dns-search")  # options taking several values
INTERFACES_D = "/etc/network/interfaces.d"
_STOCK_INCLUDES = (("source", f"{INTERFACES_D}/*"), ("source-directory", INTERFACES_D))


def paths(device: str) -> tuple[str, ...]:
    """The identity files (the same for every device), in a fixed order."""
    return (HOSTNAME_FILE, INTERFACES)


@dataclass
class _Stanzas:
    """What was read from /etc/network/interfaces, with the line of each item."""

    auto: dict[str, int] = field(default_factory=dict)
    device: str | None = None
    iface_line: int = 0
    lo_seen: bool = False
    options: dict[str, tuple[int, str]] = field(default_factory=dict)
    dns: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


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
    if len(words) < 2 or (key not in _LISTS and len(words) != 2):
        raise ConversionError(INTERFACES, line, f"expected '{key}' and one value")
    if key == "dns-nameservers":
        st.dns.extend(_nameserver(INTERFACES, line, w) for w in words[1:])
    elif key == "dns-search":
        st.search.extend(_domains(INTERFACES, line, words[1:]))
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
        if words[0] in ("source", "source-directory"):
            if tuple(words) not in _STOCK_INCLUDES:
                raise ConversionError(
                    INTERFACES,
                    line,
                    f"'{text}' has no equivalent; supported: source {INTERFACES_D}/*",
                )
            current = None
        elif words[0] in ("auto", "allow-hotplug") and len(words) > 1:
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


def parse(files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path)."""
    hostname = _hostname_file(files)
    st = _debian_read(_need(files, INTERFACES))
    if st.device is None:
        raise ConversionError(INTERFACES, None, "expected an 'iface <dev> inet static' stanza")
    for name, line in st.auto.items():
        if name not in {"lo", st.device}:
            raise ConversionError(INTERFACES, line, f"'auto {name}': a second interface")
    # (auto and allow-hotplug are kept together in st.auto: both bring it up at boot)
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
        search=tuple(st.search),
    )


def render(ident: Identity) -> tuple[str, ...]:
    """The canonical texts of the files of :func:`paths`, in the same order."""
    gateway = "" if ident.gateway is None else f"    gateway {ident.gateway}\n"
    dns = f"    dns-nameservers {' '.join(ident.dns)}\n" if ident.dns else ""
    if ident.search:
        dns += f"    dns-search {' '.join(ident.search)}\n"
    return (
        f"{ident.hostname}\n",
        f"auto lo\niface lo inet loopback\n\nauto {ident.device}\n"
        f"iface {ident.device} inet static\n    address {ident.address}/{ident.prefix}\n"
        f"{gateway}{dns}",
    )
