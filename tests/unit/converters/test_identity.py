"""Properties and error cases of the identity converters (rhel-ifcfg, rhel7-ifcfg, debian,
networkd)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.converters import identity
from atlas_ha.converters.identity import FORMATS, Identity
from atlas_ha.errors import ConversionError

RHEL, DEBIAN, NETWORKD = "rhel-ifcfg", "debian-interfaces", "networkd"
RHEL7 = "rhel7-ifcfg"
IFCFG = "/etc/sysconfig/network-scripts/ifcfg-eth0"
NETWORK = "/etc/sysconfig/network"
HOSTNAME = "/etc/hostname"
INTERFACES = "/etc/network/interfaces"
NETWORKD_FILE = "/etc/systemd/network/10-eth0.network"

# --- strategies ---------------------------------------------------------------------------------

labels = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", fullmatch=True)
hostnames = st.lists(labels, min_size=1, max_size=5).map(".".join).filter(lambda h: len(h) <= 253)
devices = st.from_regex(r"[A-Za-z0-9_.-]{1,15}", fullmatch=True).filter(
    lambda d: d not in {".", "..", "lo"}
)
ipv4 = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
nameservers = st.ip_addresses().map(str)
identities = st.builds(
    Identity,
    hostname=hostnames,
    device=devices,
    address=ipv4,
    prefix=st.integers(0, 32),
    gateway=st.none() | ipv4,
    dns=st.lists(nameservers, max_size=4).map(tuple),
    search=st.lists(hostnames, max_size=3).map(tuple),
)
format_pairs = st.tuples(st.sampled_from(FORMATS), st.sampled_from(FORMATS))

EXAMPLE = Identity("srv1.example.com", "eth0", "192.0.2.10", 24, "192.0.2.1", ("192.0.2.53",))


def netmask(prefix: int) -> str:
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


def example(fmt: str) -> dict[str, bytes]:
    return identity.render(fmt, EXAMPLE)


def with_file(fmt: str, path: str, text: str) -> dict[str, bytes]:
    files = example(fmt)
    files[path] = text.encode()
    return files


# --- round trips --------------------------------------------------------------------------------


@given(identities, st.sampled_from(FORMATS))
def test_parse_of_render_is_identity(ident: Identity, fmt: str) -> None:
    assert identity.parse(fmt, identity.render(fmt, ident)) == ident


@given(identities, format_pairs)
def test_convert_there_and_back_is_byte_equal(ident: Identity, pair: tuple[str, str]) -> None:
    a, b = pair
    canonical = identity.render(a, ident)
    assert identity.convert(b, a, identity.convert(a, b, canonical)) == canonical


@given(identities, st.sampled_from(FORMATS))
def test_render_keys_are_the_format_paths_and_end_in_newline(ident: Identity, fmt: str) -> None:
    files = identity.render(fmt, ident)
    assert tuple(files) == identity.paths(fmt, ident.device)
    assert all(data.endswith(b"\n") for data in files.values())


@given(identities, st.sampled_from(FORMATS))
def test_address_of_returns_the_address(ident: Identity, fmt: str) -> None:
    assert identity.address_of(fmt, identity.render(fmt, ident)) == ident.address


def test_paths_are_fixed_per_format() -> None:
    assert identity.paths(RHEL) == (NETWORK, IFCFG)
    assert identity.paths(DEBIAN, "ens3") == (HOSTNAME, INTERFACES)
    assert identity.paths(NETWORKD, "ens3") == (HOSTNAME, "/etc/systemd/network/10-ens3.network")


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown identity format"):
        identity.paths("suse")


def test_invalid_identity_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="address"):
        Identity("h", "eth0", "192.0.2.300", 24, None, ())
    with pytest.raises(ValueError, match="prefix"):
        Identity("h", "eth0", "192.0.2.3", 33, None, ())


# --- non-canonical inputs -----------------------------------------------------------------------

spaces = st.sampled_from(["", " ", "\t", "  "])
comments = st.sampled_from(["", "# a comment\n", "\n", "   # indented comment\n\n"])


def quote(draw: st.DrawFn, value: str) -> str:
    return draw(st.sampled_from([value, f'"{value}"', f"'{value}'"]))


@st.composite
def messy_rhel(draw: st.DrawFn, ident: Identity) -> dict[str, bytes]:
    pad, note = draw(spaces), draw(comments)
    network = f"{note}{pad}NETWORKING={quote(draw, 'yes')}\n" if draw(st.booleans()) else note
    network += f"HOSTNAME={quote(draw, ident.hostname)}\n"
    stock = draw(st.lists(st.sampled_from(STOCK_IFCFG_LINES), unique=True))
    mask = (
        f"NETMASK={quote(draw, netmask(ident.prefix))}"
        if draw(st.booleans())
        else f"PREFIX={quote(draw, str(ident.prefix))}"
    )
    lines = [
        f"{pad}IPADDR={quote(draw, ident.address)}  # the address",
        mask,
        f"DEVICE={quote(draw, ident.device)}",
        f"BOOTPROTO={quote(draw, draw(st.sampled_from(['none', 'static'])))}",
        *([f"ONBOOT={quote(draw, 'yes')}"] if draw(st.booleans()) else []),
        *([f"GATEWAY={quote(draw, ident.gateway)}"] if ident.gateway else []),
        *[f"DNS{i}={quote(draw, s)}" for i, s in enumerate(ident.dns, 1)],
        *([f'DOMAIN="{" ".join(ident.search)}"'] if ident.search else []),
        *stock,
    ]
    ifcfg = note + f"\n{note}".join(draw(st.permutations(lines))) + "\n"
    path = f"/etc/sysconfig/network-scripts/ifcfg-{ident.device}"
    return {NETWORK: network.encode(), path: ifcfg.encode()}


# what NetworkManager and anaconda write besides the identity (no meaning in other formats)
STOCK_IFCFG_LINES = [
    "TYPE=Ethernet",
    "PROXY_METHOD=none",
    "BROWSER_ONLY=no",
    "DEFROUTE=yes",
    "IPV4_FAILURE_FATAL=no",
    "IPV6INIT=yes",
    "IPV6_AUTOCONF=yes",
    "IPV6_DEFROUTE=yes",
    "IPV6_FAILURE_FATAL=no",
    "IPV6_ADDR_GEN_MODE=stable-privacy",
    'NAME="System eth0"',
    "UUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03",
]


@st.composite
def messy_debian(draw: st.DrawFn, ident: Identity) -> dict[str, bytes]:
    pad, note = draw(spaces), draw(comments)
    if draw(st.booleans()):
        address = [f"address {ident.address}", f"netmask {netmask(ident.prefix)}"]
    else:
        address = [f"address{pad} {ident.address}/{ident.prefix}"]
    options = draw(
        st.permutations(address + ([f"gateway {ident.gateway}"] if ident.gateway else []))
    )
    options += [f"dns-nameservers {s}" for s in ident.dns]  # one per line, in order
    options += [f"dns-search {d}" for d in ident.search]
    body = "".join(f"{note}{pad}\t{line}{pad}\n" for line in options)
    loopback = "auto lo\niface lo inet loopback\n" if draw(st.booleans()) else ""
    include = draw(
        st.sampled_from(
            [
                "",
                "source /etc/network/interfaces.d/*\n",
                "source-directory /etc/network/interfaces.d\n",
            ]
        )
    )
    start = draw(st.sampled_from(["auto", "allow-hotplug"]))
    text = (
        f"{note}{include}{loopback}{note}{start} {ident.device}\n"
        f"{pad}iface {ident.device} inet static\n{body}"
    )
    return {HOSTNAME: f"{note}{pad}{ident.hostname}{pad}\n".encode(), INTERFACES: text.encode()}


@st.composite
def messy_networkd(draw: st.DrawFn, ident: Identity) -> dict[str, bytes]:
    pad, note = draw(spaces), draw(comments)
    note = note.replace("#", draw(st.sampled_from(["#", ";"])))
    address = f"{ident.address}/{ident.prefix}"
    if ident.prefix == 32 and draw(st.booleans()):
        address = ident.address  # no prefix length means /32
    network = [f"Address {pad}={pad} {address}"]
    network += [f"Gateway={ident.gateway}"] if ident.gateway else []
    if draw(st.booleans()):
        network += [f"DNS={s}" for s in ident.dns]
    elif ident.dns:
        network += [f"DNS={' '.join(ident.dns)}"]
    network += [f"Domains={d}" for d in ident.search]
    network += ["DHCP=no"] if draw(st.booleans()) else []
    text = f"{note}[Network]\n" + "".join(f"{pad}{line}\n{note}" for line in network)
    text += f"[Match]\n{pad}Name={pad}{ident.device}\n"
    path = f"/etc/systemd/network/10-{ident.device}.network"
    return {HOSTNAME: f"{ident.hostname}\n".encode(), path: text.encode()}


@st.composite
def messy_rhel7(draw: st.DrawFn, ident: Identity) -> dict[str, bytes]:
    """RHEL 7+: the host name in /etc/hostname; /etc/sysconfig/network a comment, or with
    NETWORKING=yes and/or the same HOSTNAME= again."""
    files = draw(messy_rhel(ident))
    note = draw(comments)
    network = note
    if draw(st.booleans()):
        network += f"NETWORKING={quote(draw, 'yes')}\n"
    if draw(st.booleans()):
        network += f"HOSTNAME={quote(draw, ident.hostname)}\n"
    files[NETWORK] = network.encode()
    files["/etc/hostname"] = f"{note}{ident.hostname}\n".encode()
    return files


@st.composite
def messy_nmkeyfile(draw: st.DrawFn, ident: Identity) -> dict[str, bytes]:
    """A NetworkManager keyfile as anaconda or nmcli write it: the keys without identity,
    the gateway in address1= or on its own line, lists with or without the last `;`."""
    pad, note = draw(spaces), draw(comments)
    end = draw(st.sampled_from(["", ";"]))
    connection = [f"interface-name{pad}={pad}{ident.device}", "type=ethernet"]
    connection += draw(
        st.lists(
            st.sampled_from(
                [
                    "id=System eth0",
                    "uuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03",
                    "autoconnect-priority=-999",
                    "timestamp=1704067200",
                    "autoconnect=true",
                ]
            ),
            unique=True,
        )
    )
    ipv4 = ["method=manual"]
    if ident.gateway and draw(st.booleans()):
        ipv4 += [f"address1={ident.address}/{ident.prefix},{ident.gateway}"]
    else:
        ipv4 += [f"address1={ident.address}/{ident.prefix}"]
        ipv4 += [f"gateway={ident.gateway}"] if ident.gateway else []
    if ident.dns:
        ipv4 += ["dns=" + ";".join(ident.dns) + end]
    if ident.search:
        ipv4 += ["dns-search=" + ";".join(ident.search) + end]
    sections = {
        "connection": draw(st.permutations(connection)),
        "ethernet": [],
        "ipv4": draw(st.permutations(ipv4)),
        "ipv6": ["method=auto"] + (["addr-gen-mode=stable-privacy"] if draw(st.booleans()) else []),
        "proxy": [],
    }
    order = draw(st.permutations(list(sections)))
    text = "".join(
        f"{note}[{name}]\n" + "".join(f"{line}\n" for line in sections[name]) + "\n"
        for name in order
    )
    path = f"/etc/NetworkManager/system-connections/{ident.device}.nmconnection"
    return {HOSTNAME: f"{ident.hostname}\n".encode(), path: text.encode()}


MESSY = {
    RHEL: messy_rhel,
    RHEL7: messy_rhel7,
    DEBIAN: messy_debian,
    NETWORKD: messy_networkd,
    "nm-keyfile": messy_nmkeyfile,
}


@given(st.data(), identities, st.sampled_from(FORMATS))
def test_non_canonical_input_parses_to_the_same_identity(
    data: st.DataObject, ident: Identity, fmt: str
) -> None:
    files = data.draw(MESSY[fmt](ident))
    assert identity.parse(fmt, files) == ident


@given(identities, st.sampled_from(FORMATS))
def test_unrelated_files_are_ignored(ident: Identity, fmt: str) -> None:
    files = identity.render(fmt, ident) | {"/etc/hosts": b"127.0.0.1 localhost\n"}
    assert identity.parse(fmt, files) == ident


# --- invalid inputs -----------------------------------------------------------------------------

IFCFG_OK = "DEVICE=eth0\nBOOTPROTO=none\nONBOOT=yes\nIPADDR=192.0.2.10\nPREFIX=24\n"
IFACE_OK = "auto eth0\niface eth0 inet static\n    address 192.0.2.10/24\n"
NETWORKD_OK = "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.10/24\n"

# (format, path, new text, expected line, a word of the message)
INVALID = [
    (RHEL, NETWORK, "NETWORKING=no\nHOSTNAME=h\n", 1, "no equivalent"),
    (RHEL, NETWORK, "NETWORKING=yes\n", None, "HOSTNAME="),
    (RHEL, NETWORK, "# Created by anaconda\n", None, "/etc/hostname"),
    (RHEL, IFCFG, IFCFG_OK + "DEFROUTE=no\n", 6, "DEFROUTE=no"),
    (RHEL, IFCFG, IFCFG_OK + "IPV6INIT=no\n", 6, "IPV6INIT=no"),
    (RHEL, IFCFG, IFCFG_OK + "TYPE=Bridge\n", 6, "TYPE=Bridge"),
    (RHEL, IFCFG, IFCFG_OK + "UUID=not-a-uuid\n", 6, "UUID"),
    (RHEL, IFCFG, IFCFG_OK + "HWADDR=52:54:00:12:34:56\n", 6, "HWADDR"),
    (RHEL, IFCFG, IFCFG_OK + "DOMAIN=-bad-\n", 6, "search domain"),
    (RHEL, NETWORK, "NETWORKING=yes\nHOSTNAME=-bad-\n", 2, "host name"),
    (RHEL, NETWORK, "NETWORKING=yes\nHOSTNAME=h\nGATEWAY=192.0.2.1\n", 3, "GATEWAY"),
    (RHEL, NETWORK, "NETWORKING=yes\nHOSTNAME=$(hostname)\n", 2, "KEY=value"),
    (RHEL, IFCFG, IFCFG_OK.replace("none", "dhcp"), 2, "no equivalent"),
    (RHEL, IFCFG, IFCFG_OK.replace("ONBOOT=yes", "ONBOOT=no"), 3, "no equivalent"),
    (RHEL, IFCFG, IFCFG_OK + "IPV6ADDR=2001:db8::1/64\n", 6, "IPV6ADDR"),
    (RHEL, IFCFG, IFCFG_OK + "BONDING_OPTS='mode=1'\n", 6, "no equivalent"),
    (RHEL, IFCFG, IFCFG_OK + "IPADDR=192.0.2.11\n", 6, "twice"),
    (RHEL, IFCFG, IFCFG_OK.replace("192.0.2.10", "192.0.2.256"), 4, "IPv4"),
    (RHEL, IFCFG, IFCFG_OK.replace("PREFIX=24", "PREFIX=33"), 5, "prefix"),
    (RHEL, IFCFG, IFCFG_OK.replace("PREFIX=24", "NETMASK=255.0.255.0"), 5, "netmask"),
    (RHEL, IFCFG, IFCFG_OK + "NETMASK=255.255.255.0\n", 6, "not both"),
    (RHEL, IFCFG, IFCFG_OK.replace("PREFIX=24\n", ""), None, "PREFIX"),
    (RHEL, IFCFG, IFCFG_OK.replace("DEVICE=eth0", "DEVICE=eth1"), 1, "DEVICE=eth0"),
    (RHEL, IFCFG, IFCFG_OK + "DNS1=192.0.2.53\nDNS3=192.0.2.54\n", 7, "gaps"),
    (RHEL, IFCFG, IFCFG_OK + "DNS1=nameserver\n", 6, "name server"),
    (RHEL, IFCFG, IFCFG_OK + "GATEWAY = 192.0.2.1\n", 6, "KEY=value"),
    (RHEL, IFCFG, IFCFG_OK + 'GATEWAY="192.0.2.1\n', 6, "KEY=value"),
    (DEBIAN, HOSTNAME, "one\ntwo\n", 2, "single"),
    (DEBIAN, HOSTNAME, "# only a comment\n", None, "host name"),
    (DEBIAN, HOSTNAME, "a" * 64 + "\n", 1, "host name"),
    (DEBIAN, INTERFACES, IFACE_OK + "    post-up ip route add 10.0.0.0/8 dev eth0\n", 4, "post-up"),
    (DEBIAN, INTERFACES, IFACE_OK.replace("static", "dhcp"), 2, "no equivalent"),
    (DEBIAN, INTERFACES, IFACE_OK + "iface eth0 inet6 static\n", 4, "no equivalent"),
    (DEBIAN, INTERFACES, IFACE_OK + "auto eth1\niface eth1 inet static\n", 5, "second"),
    (DEBIAN, INTERFACES, IFACE_OK + "auto eth1\n", 4, "second"),
    (DEBIAN, INTERFACES, IFACE_OK + "    bond-slaves eth1 eth2\n", 4, "no equivalent"),
    (DEBIAN, INTERFACES, IFACE_OK + "    address 192.0.2.11/24\n", 4, "twice"),
    (DEBIAN, INTERFACES, IFACE_OK + "    netmask 255.255.255.0\n", 4, "not both"),
    (DEBIAN, INTERFACES, IFACE_OK.replace("/24", ""), 3, "address A/P"),
    (DEBIAN, INTERFACES, IFACE_OK.replace("auto eth0\n", ""), 1, "auto eth0"),
    (DEBIAN, INTERFACES, "source /etc/network/extra\n" + IFACE_OK, 1, "source"),
    (DEBIAN, INTERFACES, "source-directory /etc/net.d\n" + IFACE_OK, 1, "source"),
    (DEBIAN, INTERFACES, IFACE_OK + "    dns-search exa_mple.org\n", 4, "search domain"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "Domains=~example.org\n", 6, "search domain"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "DHCP=ipv4\n", 6, "DHCP=ipv4"),
    (DEBIAN, INTERFACES, "auto lo\niface lo inet loopback\n", None, "iface"),
    (DEBIAN, INTERFACES, IFACE_OK + "    gateway 192.0.2.1 \\\n", 4, "expected"),
    (DEBIAN, INTERFACES, IFACE_OK + "    dns-nameservers 192.0.2.x\n", 4, "name server"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "DHCP=yes\n", 6, "DHCP"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "Address=2001:db8::1/64\n", 6, "second"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "[Route]\nGateway=192.0.2.1\n", 6, "[Route]"),
    (NETWORKD, NETWORKD_FILE, "Name=eth0\n" + NETWORKD_OK, 1, "before any section"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "DNS=\n", 6, "value"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK.replace("Name=eth0", "Name=eth*"), 2, "Name="),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK.replace("Name=eth0", "Name=eth1"), 2, "Name="),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK.replace("/24", "/40"), 5, "prefix"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK.replace("Address=192.0.2.10/24\n", ""), None, "Address"),
    (NETWORKD, NETWORKD_FILE, NETWORKD_OK + "Gateway=192.0.2.1\nGateway=192.0.2.2\n", 7, "second"),
]


@pytest.mark.parametrize(("fmt", "path", "text", "line", "word"), INVALID)
def test_invalid_input_names_file_and_line(
    fmt: str, path: str, text: str, line: int | None, word: str
) -> None:
    with pytest.raises(ConversionError) as caught:
        identity.parse(fmt, with_file(fmt, path, text))
    assert caught.value.path == path
    assert caught.value.line == line
    assert word in caught.value.expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_file_is_named(fmt: str) -> None:
    for path in identity.paths(fmt):
        files = example(fmt)
        del files[path]
        with pytest.raises(ConversionError, match="missing") as caught:
            identity.parse(fmt, files)
        assert caught.value.path == path
        assert caught.value.line is None


@pytest.mark.parametrize(
    ("fmt", "extra"),
    [
        (RHEL, "/etc/sysconfig/network-scripts/ifcfg-eth1"),
        (RHEL, "/etc/sysconfig/network-scripts/route-eth0"),
        (NETWORKD, "/etc/systemd/network/20-eth1.network"),
    ],
)
def test_second_interface_file_is_refused(fmt: str, extra: str) -> None:
    files = example(fmt) | {extra: b""}
    with pytest.raises(ConversionError, match="no equivalent") as caught:
        identity.parse(fmt, files)
    assert caught.value.path == extra


def test_networkd_file_name_must_match_the_device() -> None:
    files = {HOSTNAME: b"h\n", "/etc/systemd/network/eth0.network": NETWORKD_OK.encode()}
    with pytest.raises(ConversionError, match="10-<dev>") as caught:
        identity.parse(NETWORKD, files)
    assert caught.value.path == "/etc/systemd/network/eth0.network"


def test_non_utf8_is_refused_with_its_line() -> None:
    files = with_file(DEBIAN, INTERFACES, IFACE_OK)
    files[INTERFACES] += b"    gateway \xff\n"
    with pytest.raises(ConversionError, match="UTF-8") as caught:
        identity.parse(DEBIAN, files)
    assert (caught.value.path, caught.value.line) == (INTERFACES, 4)


# --- fuzzing: only ConversionError or a valid Identity ------------------------------------------

line_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "auto eth0",
            "iface eth0 inet static",
            "address 192.0.2.1/24",
            "netmask 24",
            "gateway 192.0.2.1",
            "dns-nameservers ::1",
            "iface lo inet loopback",
            "[Match]",
            "[Network]",
            "Name=eth0",
            "Address=192.0.2.1",
            "DNS=1.1.1.1 ::1",
            "Gateway=1.2.3.4",
            "DEVICE=eth0",
            "IPADDR='192.0.2.1'",
            'NETMASK="255.255.0.0"',
            "DNS1=1.1.1.1",
            "HOSTNAME=x",
            "NETWORKING=yes",
            "PREFIX=99999999999999999999",
            "DNS2=x",
        ]
    ),
)
file_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(line_texts, max_size=12).map(lambda lines: "\n".join(lines).encode()),
)


def assert_parses_or_refuses(fmt: str, files: dict[str, bytes]) -> None:
    try:
        result = identity.parse(fmt, files)
    except ConversionError as err:
        assert err.path.startswith("/etc/")
        assert err.line is None or err.line >= 1
    else:
        assert isinstance(result, Identity)
        assert identity.parse(fmt, identity.render(fmt, result)) == result


@given(st.sampled_from(FORMATS), st.lists(file_bytes, min_size=3, max_size=3))
def test_random_text_never_raises_anything_else(fmt: str, contents: list[bytes]) -> None:
    files = dict(zip(identity.paths(fmt), contents, strict=False))
    assert_parses_or_refuses(fmt, files)


@given(st.sampled_from(FORMATS), identities, st.integers(0, 2), st.integers(0, 20), line_texts)
def test_a_random_line_inserted_never_raises_anything_else(
    fmt: str, ident: Identity, which: int, at: int, text: str
) -> None:
    files = identity.render(fmt, ident)
    path = list(files)[which % len(files)]
    lines = files[path].decode().split("\n")
    lines.insert(at % len(lines), text)
    files[path] = "\n".join(lines).encode()
    assert_parses_or_refuses(fmt, files)
