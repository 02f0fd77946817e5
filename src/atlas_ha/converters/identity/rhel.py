"""The ``rhel-ifcfg`` identity format.

``/etc/sysconfig/network`` (``HOSTNAME=``; ``NETWORKING=yes`` optional, as RHEL 7 and later
ignore it) and ``/etc/sysconfig/network-scripts/ifcfg-<dev>`` (``DEVICE``, ``BOOTPROTO=none``,
``ONBOOT=yes``, ``IPADDR``, ``PREFIX`` or ``NETMASK``, ``GATEWAY``, ``DNS1``, ``DNS2``, ...,
``DOMAIN``). Values may be double- or single-quoted; shell expansion is not supported.

The host name must be in ``HOSTNAME=``: RHEL 7 and later keep it in ``/etc/hostname``, which
is not one of this format's files (adding it would change every Env1 snapshot's
IdentFilePaths); an installer's ``/etc/sysconfig/network`` without ``HOSTNAME=`` is refused
naming the file and the fix: the format ``rhel7-ifcfg`` (:mod:`.rhel7`) is RHEL 7 and later's.

The keys NetworkManager and anaconda write with their default values are accepted and carry
no identity: ``TYPE=Ethernet``, ``NAME``, ``UUID``, ``PROXY_METHOD=none``,
``BROWSER_ONLY=no``, ``DEFROUTE=yes``, ``IPV4_FAILURE_FATAL``, ``IPV6INIT=yes`` with
``IPV6_AUTOCONF=yes``, ``IPV6_DEFROUTE=yes``, ``IPV6_FAILURE_FATAL``, ``IPV6_ADDR_GEN_MODE``
(the SLAAC addressing every target format does by default). They are normalised away:
rendering writes only the canonical keys. Other values of them (``DEFROUTE=no``,
``IPV6INIT=no``, a bridge ``TYPE``) have no equivalent and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from atlas_ha.converters.identity.model import (
    _BLANKS,
    Identity,
    _address,
    _content,
    _device_ok,
    _domains,
    _host,
    _nameserver,
    _need,
    _netmask,
    _one_file,
    _prefix,
)
from atlas_ha.errors import ConversionError

SYSCONFIG_NETWORK = "/etc/sysconfig/network"
IFCFG_DIR = "/etc/sysconfig/network-scripts"

_ASSIGN = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)="
    r"(?:\"([^\"\\$`]*)\"|'([^']*)'|([^\s\"'\\$`#;&|<>()]*))"
    r"(?:[ \t]+#.*)?",
    re.ASCII,
)
_DNS_KEY = re.compile(r"DNS([1-9][0-9]{0,2})", re.ASCII)
# RHEL network-scripts files that configure an interface, a route or a rule.
_RHEL_CONFIG_PREFIXES = ("ifcfg-", "route-", "route6-", "rule-", "rule6-")

_Vars = dict[str, tuple[int, str]]

_NETWORK_KEYS = ("NETWORKING", "HOSTNAME")
_IFCFG_KEYS = (
    "DEVICE",
    "BOOTPROTO",
    "ONBOOT",
    "IPADDR",
    "PREFIX",
    "NETMASK",
    "GATEWAY",
    "DOMAIN",
)
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", re.ASCII)
# Keys NetworkManager/anaconda write whose accepted values are the defaults of every target
# format: they carry no identity. None = any value of the right form (a label, an id).
_INERT: dict[str, tuple[str, ...] | None] = {
    "TYPE": ("Ethernet",),
    "NAME": None,
    "UUID": None,
    "PROXY_METHOD": ("none",),
    "BROWSER_ONLY": ("no",),
    "DEFROUTE": ("yes",),
    "IPV4_FAILURE_FATAL": ("no", "yes"),
    "IPV6INIT": ("yes",),
    "IPV6_AUTOCONF": ("yes",),
    "IPV6_DEFROUTE": ("yes",),
    "IPV6_FAILURE_FATAL": ("no", "yes"),
    "IPV6_ADDR_GEN_MODE": ("stable-privacy", "eui64", "default", "default-or-eui64"),
}


def paths(device: str) -> tuple[str, ...]:
    """The identity files of ``device`` (already validated), in a fixed order."""
    return (SYSCONFIG_NETWORK, f"{IFCFG_DIR}/ifcfg-{device}")


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


def _rhel_hostname(network: _Vars) -> str:
    if "HOSTNAME" not in network:
        raise ConversionError(
            SYSCONFIG_NETWORK,
            None,
            "expected HOSTNAME=<name> (RHEL 7+ keeps the host name in /etc/hostname, which "
            "the rhel-ifcfg format does not hold: describe this EnvVersion with identity = "
            '"rhel7-ifcfg" in envs.toml, on every server)',
        )
    return _host(SYSCONFIG_NETWORK, *network["HOSTNAME"])


def _check_inert(path: str, env: _Vars) -> None:
    for key, allowed in _INERT.items():
        if key not in env:
            continue
        line, value = env[key]
        if key == "UUID" and _UUID.fullmatch(value) is None:
            raise ConversionError(path, line, f"expected a UUID, got {value!r}")
        if allowed is not None and value not in allowed:
            raise ConversionError(
                path, line, f"{key}={value} has no equivalent; supported: {' or '.join(allowed)}"
            )


def parse(files: Mapping[str, bytes]) -> Identity:
    """Read the identity held in ``files`` (keyed by absolute system path)."""
    return parse_interface(files, _rhel_hostname(network_vars(files)))


def network_vars(files: Mapping[str, bytes]) -> _Vars:
    """The assignments of ``/etc/sysconfig/network`` (``NETWORKING=yes``, ``HOSTNAME``)."""
    network = _shell_vars(SYSCONFIG_NETWORK, _need(files, SYSCONFIG_NETWORK), _NETWORK_KEYS)
    _expect_value(SYSCONFIG_NETWORK, network, "NETWORKING", ("yes",))
    return network


def parse_interface(files: Mapping[str, bytes], hostname: str) -> Identity:
    """The identity of the one ``ifcfg-<device>`` file of ``files``, with ``hostname``."""
    found = sorted(
        p
        for p in files
        if p.startswith(IFCFG_DIR + "/")
        and p[len(IFCFG_DIR) + 1 :].startswith(_RHEL_CONFIG_PREFIXES)
    )
    path = _one_file(found, paths("eth0")[1])
    device = path[len(IFCFG_DIR) + 1 :].partition("-")[2]
    if not path.startswith(f"{IFCFG_DIR}/ifcfg-") or not _device_ok(device):
        raise ConversionError(path, None, "has no equivalent; supported: one ifcfg-<device> file")
    env = _shell_vars(path, files[path], _IFCFG_KEYS + tuple(_INERT), dns=True)
    _check_inert(path, env)
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
        search=_domains(path, *_words(env["DOMAIN"])) if "DOMAIN" in env else (),
    )


def _words(item: tuple[int, str]) -> tuple[int, list[str]]:
    line, value = item
    return line, [w for w in _BLANKS.split(value) if w]


def render(ident: Identity) -> tuple[str, ...]:
    """The canonical texts of the files of :func:`paths`, in the same order."""
    return (f"NETWORKING=yes\nHOSTNAME={ident.hostname}\n", render_interface(ident))


def render_interface(ident: Identity) -> str:
    """The canonical text of the ``ifcfg-<device>`` file of ``ident``."""
    gateway = "" if ident.gateway is None else f"GATEWAY={ident.gateway}\n"
    dns = "".join(f"DNS{i}={server}\n" for i, server in enumerate(ident.dns, start=1))
    domain = f'DOMAIN="{" ".join(ident.search)}"\n' if ident.search else ""
    return (
        f"DEVICE={ident.device}\nBOOTPROTO=none\nONBOOT=yes\n"
        f"IPADDR={ident.address}\nPREFIX={ident.prefix}\n{gateway}{dns}{domain}"
    )
