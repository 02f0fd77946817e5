"""A minimal DNS client wire format (RFC 1035, RFC 3596): one question, A/AAAA/TXT answers.

Everything in an answer comes from the network and is hostile: every length is checked
against the packet, compression pointers may only point backwards and are bounded in
number, and any violation is a `DnsFormatError` naming the offset and what was expected.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

TYPES = {"A": 1, "AAAA": 28, "TXT": 16, "CNAME": 5}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
CLASS_IN = 1
HEADER = struct.Struct("!HHHHHH")
RR_FIXED = struct.Struct("!HHIH")
MAX_NAME = 255
MAX_LABEL = 63
MAX_POINTERS = 32
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


class DnsFormatError(ValueError):
    """A malformed DNS packet (or a name that cannot be asked)."""


@dataclass(frozen=True)
class Record:
    name: str  # lower case, no trailing dot
    rtype: int
    ttl: int
    value: str  # A/AAAA: the address; TXT: the strings joined; CNAME: the target name


@dataclass(frozen=True)
class Response:
    ident: int
    rcode: int
    truncated: bool
    authoritative: bool
    records: tuple[Record, ...]

    @property
    def rcode_name(self) -> str:
        return RCODES.get(self.rcode, f"RCODE{self.rcode}")

    def values(self, qname: str, rtype: int) -> list[str]:
        """The values of type `rtype` for `qname`, following CNAMEs in the answer section."""
        names = {normal(qname)}
        for _ in range(len(self.records)):
            more = {r.value for r in self.records if r.rtype == TYPES["CNAME"] and r.name in names}
            if more <= names:
                break
            names |= more
        return [r.value for r in self.records if r.rtype == rtype and r.name in names]


def normal(name: str) -> str:
    return name.rstrip(".").lower()


def encode_name(name: str) -> bytes:
    name = normal(name)
    if not name:
        raise DnsFormatError("an empty name cannot be asked")
    out = b""
    for label in name.split("."):
        try:
            raw = label.encode("idna") if not label.isascii() else label.encode("ascii")
        except UnicodeError as exc:
            raise DnsFormatError(f"label {label!r} is not a valid host name label") from exc
        if not 0 < len(raw) <= MAX_LABEL:
            raise DnsFormatError(f"label {label!r}: 1 to {MAX_LABEL} bytes")
        out += bytes([len(raw)]) + raw
    out += b"\0"
    if len(out) > MAX_NAME:
        raise DnsFormatError(f"name {name!r} is longer than {MAX_NAME} bytes")
    return out


def build_query(ident: int, name: str, rtype: int) -> bytes:
    """A standard query with recursion desired for one (name, type, IN) question."""
    if not 0 <= ident <= 0xFFFF:
        raise DnsFormatError(f"query id {ident} is not 16 bits")
    header = HEADER.pack(ident, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", rtype, CLASS_IN)


def read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """The (possibly compressed) name at `offset` and the offset just after it."""
    labels: list[str] = []
    end: int | None = None
    pointers = 0
    length = 0
    pos = offset
    while True:
        if pos >= len(packet):
            raise DnsFormatError(f"offset {pos}: name runs past the end of the packet")
        size = packet[pos]
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(packet):
                raise DnsFormatError(f"offset {pos}: truncated compression pointer")
            target = ((size & 0x3F) << 8) | packet[pos + 1]
            pointers += 1
            if target >= pos or pointers > MAX_POINTERS:
                raise DnsFormatError(f"offset {pos}: compression pointer {target} does not go back")
            if end is None:
                end = pos + 2
            pos = target
            continue
        if size & 0xC0:
            raise DnsFormatError(f"offset {pos}: unsupported label type {size >> 6}")
        pos += 1
        if size == 0:
            break
        if pos + size > len(packet):
            raise DnsFormatError(f"offset {pos}: label of {size} bytes runs past the end")
        length += size + 1
        if length > MAX_NAME:
            raise DnsFormatError(f"offset {offset}: name longer than {MAX_NAME} bytes")
        labels.append(packet[pos : pos + size].decode("ascii", errors="replace").lower())
        pos += size
    return ".".join(labels), end if end is not None else pos


def _rdata(packet: bytes, rtype: int, start: int, size: int) -> str | None:
    data = packet[start : start + size]
    if rtype == TYPES["A"]:
        if size != 4:
            raise DnsFormatError(f"offset {start}: an A record has 4 bytes, not {size}")
        return str(ipaddress.IPv4Address(data))
    if rtype == TYPES["AAAA"]:
        if size != 16:
            raise DnsFormatError(f"offset {start}: an AAAA record has 16 bytes, not {size}")
        return str(ipaddress.IPv6Address(data))
    if rtype == TYPES["TXT"]:
        return _txt(data, start)
    if rtype == TYPES["CNAME"]:
        name, end = read_name(packet, start)
        if end != start + size:
            raise DnsFormatError(f"offset {start}: CNAME name does not fill its {size} bytes")
        return name
    return None  # another type: skipped


def _txt(data: bytes, start: int) -> str:
    if not data:
        raise DnsFormatError(f"offset {start}: a TXT record holds at least one string")
    parts: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        if pos + 1 + size > len(data):
            raise DnsFormatError(f"offset {start + pos}: TXT string runs past its record")
        parts.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return b"".join(parts).decode("utf-8", errors="replace")  # a character may span strings


def parse_response(packet: bytes) -> Response:
    """Parse an answer; raises DnsFormatError for anything malformed."""
    if len(packet) < HEADER.size:
        raise DnsFormatError(f"{len(packet)} bytes: shorter than a DNS header")
    ident, flags, qdcount, ancount, _ns, _ar = HEADER.unpack_from(packet)
    if not flags & 0x8000:
        raise DnsFormatError("not a response (QR bit clear)")
    pos = HEADER.size
    for _ in range(qdcount):
        _name, pos = read_name(packet, pos)
        pos += 4
        if pos > len(packet):
            raise DnsFormatError("question runs past the end of the packet")
    records = []
    for _ in range(ancount):
        name, pos = read_name(packet, pos)
        if pos + RR_FIXED.size > len(packet):
            raise DnsFormatError(f"offset {pos}: record header runs past the end")
        rtype, rclass, ttl, size = RR_FIXED.unpack_from(packet, pos)
        pos += RR_FIXED.size
        if pos + size > len(packet):
            raise DnsFormatError(f"offset {pos}: record data of {size} bytes runs past the end")
        value = _rdata(packet, rtype, pos, size)
        pos += size
        if value is not None and rclass == CLASS_IN:
            records.append(Record(name, rtype, ttl, value))
    return Response(ident, flags & 0xF, bool(flags & 0x0200), bool(flags & 0x0400), tuple(records))


def question_of(packet: bytes) -> tuple[str, int, int]:
    """The first question of a packet (name, type, class), to match an answer to its query."""
    if len(packet) < HEADER.size or HEADER.unpack_from(packet)[2] < 1:
        raise DnsFormatError("the answer does not repeat the question")
    name, pos = read_name(packet, HEADER.size)
    if pos + 4 > len(packet):
        raise DnsFormatError("question runs past the end of the packet")
    rtype, rclass = struct.unpack_from("!HH", packet, pos)
    return name, rtype, rclass
