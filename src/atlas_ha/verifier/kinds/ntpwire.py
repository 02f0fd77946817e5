"""NTP packets (RFC 5905 section 7.3) for an SNTP client (RFC 4330): build a request, parse
an answer. Pure functions: no sockets, no clock.

A timestamp on the wire is 64 bits: seconds since 1900-01-01 and a binary fraction. Here
they are floats in Unix seconds; `NtpTimestamp` keeps the raw 64 bits as well, because an
answer is ours only when its origin timestamp is exactly the transmit timestamp we sent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!BBbbII4sQQQQ")  # the 48-byte header, without extensions or MAC
MODE_CLIENT, MODE_SERVER = 3, 4
LEAP_ALARM = 3  # leap indicator 3: the server's clock is not synchronised
STRATUM_UNSYNCHRONISED = 16


class NtpFormatError(ValueError):
    """An answer that is not a well-formed NTP server packet (internal to the ntp kind)."""


def to_wire(unix: float) -> int:
    """Unix seconds -> the 64-bit NTP timestamp (the seconds wrap in 2036: era 1)."""
    seconds = unix + NTP_UNIX_OFFSET
    whole = int(seconds)
    fraction = int((seconds - whole) * (1 << 32)) & 0xFFFFFFFF
    return ((whole & 0xFFFFFFFF) << 32) | fraction


def from_wire(raw: int) -> float:
    """The 64-bit timestamp -> Unix seconds, read as RFC 4330 3 says: seconds with the high
    bit set are 1968-2036 (era 0), without it 2036-2104 (era 1)."""
    seconds = raw >> 32
    if not seconds & 0x80000000:
        seconds += 1 << 32
    return seconds - NTP_UNIX_OFFSET + (raw & 0xFFFFFFFF) / (1 << 32)


def short(raw: int) -> float:
    """An NTP short format value (16.16 fixed point seconds): root delay and dispersion."""
    return raw / (1 << 16)


def build_request(transmit: int, version: int = 4) -> bytes:
    """A client request whose transmit timestamp is `transmit` (64 raw bits)."""
    first = (0 << 6) | (version << 3) | MODE_CLIENT
    return PACKET.pack(first, 0, 0, 0, 0, 0, b"\0\0\0\0", 0, 0, 0, transmit)


@dataclass(frozen=True)
class Answer:
    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    precision: int
    root_delay: float  # seconds
    root_dispersion: float  # seconds
    refid: bytes
    reference: int  # raw 64-bit timestamps
    origin: int
    receive: int
    transmit: int

    @property
    def kiss_code(self) -> str | None:
        """A kiss-o'-death (stratum 0): the server's four ASCII letters (RATE, DENY, ...)."""
        if self.stratum != 0:
            return None
        return self.refid.decode("ascii", errors="replace").rstrip("\0") or "(empty)"

    @property
    def reference_id(self) -> str:
        """Stratum 1: the reference clock's ASCII name; above: the upstream's IPv4 address
        (or a hash of its IPv6 address, shown as a dotted quad all the same)."""
        if self.stratum <= 1:
            return self.refid.decode("ascii", errors="replace").rstrip("\0")
        return ".".join(str(b) for b in self.refid)

    @property
    def root_distance(self) -> float:
        """RFC 5905's bound on the error against the primary reference: delay/2 + dispersion."""
        return self.root_delay / 2 + self.root_dispersion


def parse_answer(packet: bytes) -> Answer:
    """A server's answer, checked for the shape of one; raises NtpFormatError otherwise."""
    if len(packet) < PACKET.size:
        raise NtpFormatError(f"{len(packet)} bytes, an NTP packet has at least {PACKET.size}")
    first, stratum, poll, precision, delay, dispersion, refid, ref, org, rec, xmt = (
        PACKET.unpack_from(packet)
    )
    leap, version, mode = first >> 6, (first >> 3) & 7, first & 7
    if version not in (1, 2, 3, 4):
        raise NtpFormatError(f"NTP version {version}, expected 1-4")
    if mode != MODE_SERVER:
        raise NtpFormatError(f"mode {mode}, a server answers with mode {MODE_SERVER}")
    if stratum != 0 and xmt == 0:
        raise NtpFormatError("transmit timestamp 0 in a server answer")
    return Answer(
        leap=leap,
        version=version,
        mode=mode,
        stratum=stratum,
        poll=poll,
        precision=precision,
        root_delay=short(delay),
        root_dispersion=short(dispersion),
        refid=refid,
        reference=ref,
        origin=org,
        receive=rec,
        transmit=xmt,
    )


def build_answer(answer: Answer) -> bytes:
    """The wire form of an answer (for tests and hostile-server fixtures)."""
    first = (answer.leap << 6) | (answer.version << 3) | answer.mode
    return PACKET.pack(
        first,
        answer.stratum,
        answer.poll,
        answer.precision,
        round(answer.root_delay * (1 << 16)) & 0xFFFFFFFF,
        round(answer.root_dispersion * (1 << 16)) & 0xFFFFFFFF,
        answer.refid,
        answer.reference,
        answer.origin,
        answer.receive,
        answer.transmit,
    )


def offset_and_delay(t1: float, t2: float, t3: float, t4: float) -> tuple[float, float]:
    """RFC 5905 8: the clock offset of the server against ours, and the round-trip delay.
    t1 our transmit, t2 the server's receive, t3 its transmit, t4 our receive."""
    return ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2)
