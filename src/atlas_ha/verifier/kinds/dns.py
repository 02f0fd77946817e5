"""The `dns` verifier: a test record, asked over UDP, resolves as expected.

Options (services file, [service.NAME.options])::

    name = "verify.acme.lan"     # the test record (required)
    type = "A"                   # A | AAAA | TXT
    expected = ["192.0.2.80"]    # the exact set of values expected (empty: any answer)
    port = 53

Measured: `time` (seconds, query to answer). CRITICAL: no answer within the timeout, a
malformed or mismatched answer, an error code (NXDOMAIN, SERVFAIL, ...), a truncated answer,
or values other than the expected ones.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from typing import Any, ClassVar

from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.kinds.dnswire import (
    CLASS_IN,
    TYPES,
    DnsFormatError,
    Response,
    build_query,
    encode_name,
    normal,
    parse_response,
    question_of,
)
from atlas_ha.verifier.profile import Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef

MAX_PACKET = 4096


class DnsOptions:
    def __init__(self, service: ServiceDef) -> None:
        opts: dict[str, Any] = service.options
        where = f"service {service.name}"
        self.name = str(opts.get("name", ""))
        self.type = str(opts.get("type", "A")).upper()
        self.port = opts.get("port", 53)
        raw = opts.get("expected", [])
        if not self.name:
            raise ValueError(f'{where}: options.name = "<test record>" is required')
        try:
            encode_name(self.name)  # a name that cannot be asked is the service's error
        except DnsFormatError as exc:
            raise ValueError(f"{where}: options.name: {exc}") from exc
        if self.type not in ("A", "AAAA", "TXT"):
            raise ValueError(f"{where}: options.type is A, AAAA or TXT, not {self.type!r}")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"{where}: options.port is a port number, not {self.port!r}")
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise ValueError(f"{where}: options.expected is a list of strings")
        self.expected = sorted({self.canonical(v) for v in raw})

    def canonical(self, value: str) -> str:
        if self.type in ("A", "AAAA"):
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                return value
        return value


class DnsVerifier(Verifier):
    kind: ClassVar[str] = "dns"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        try:
            opts = DnsOptions(service)
        except ValueError as exc:
            return Profile(Status.UNKNOWN, str(exc))
        where = f"{opts.name} {opts.type} at {target.address}:{opts.port}"
        started = time.monotonic()
        try:
            response = query(target.address, opts.port, opts.name, opts.type, service.timeout)
        except TimeoutError:
            return Profile(Status.CRITICAL, f"{where}: no answer within {service.timeout:g} s")
        except OSError as exc:
            return Profile(Status.CRITICAL, f"{where}: {exc.strerror or exc}")
        except DnsFormatError as exc:
            return Profile(Status.CRITICAL, f"{where}: malformed answer: {exc}")
        elapsed = time.monotonic() - started
        return judge(opts, where, response, [judged("time", elapsed, "s", service.thresholds)])


def judge(opts: DnsOptions, where: str, response: Response, measured: list[Any]) -> Profile:
    failures = []
    got = sorted({opts.canonical(v) for v in response.values(opts.name, TYPES[opts.type])})
    if response.rcode:
        failures.append(f"{where}: {response.rcode_name}")
    elif response.truncated:
        failures.append(f"{where}: truncated answer (TCP fallback is not supported)")
    elif not got:
        failures.append(f"{where}: no {opts.type} record in the answer")
    elif opts.expected and got != opts.expected:
        failures.append(f"{where}: resolves to {got}, expected {opts.expected}")
    details = "\n".join(f"{r.name} {r.ttl} {r.rtype} {r.value}" for r in response.records)
    data = {"values": got, "rcode": response.rcode_name}
    return from_checks(failures, f"{where}: {', '.join(got)}", measured, details, data)


def query(address: str, port: int, name: str, rtype: str, timeout: float) -> Response:
    """Ask (name, rtype) at address:port over UDP; the answer must carry our id and question.

    Packets with another id or question (late answers, spoofing attempts) are ignored until
    the deadline. Raises TimeoutError, OSError or DnsFormatError."""
    ident = secrets.randbits(16)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))  # only the server's own answers are received
        sock.settimeout(timeout)
        sock.send(build_query(ident, name, TYPES[rtype]))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            packet = sock.recv(MAX_PACKET)
            if _matches(packet, ident, name, TYPES[rtype]):
                return parse_response(packet)


def _matches(packet: bytes, ident: int, name: str, rtype: int) -> bool:
    """Our answer (True), or someone else's packet to ignore (False); an answer with our id
    and an unreadable question is malformed (DnsFormatError)."""
    if len(packet) < 2 or int.from_bytes(packet[:2], "big") != ident:
        return False
    return question_of(packet) == (normal(name), rtype, CLASS_IN)
