"""Kind `ntp`: the server's NTP service answers an SNTP query with a synchronised clock.

    [service.ntp]
    kind = "ntp"
    timeout = 3
    configs = ["/etc/ntp.conf"]   # optional: more than chrony's files of the environment
    [service.ntp.thresholds]
    offset = [0.5, 5.0]           # |offset| in seconds: slow, unacceptable (these defaults)
    root_distance = [1.0, 1.5]    # root delay/2 + root dispersion (RFC 5905's MAXDIST 1.5 s)
    stratum = [10, 15]
    [service.ntp.options]
    port = 123
    host = "127.0.0.1"            # optional: this address instead of the target's
    servers = ["192.0.2.123"]     # optional: upstreams the server is configured with; each
                                  # must answer too (WARNING when one does not)

One request (RFC 4330, version 4, mode 3) with an unpredictable transmit timestamp; only an
answer whose origin timestamp is exactly that one is taken (late answers and spoofed packets
are ignored until the timeout). CRITICAL: no answer, a malformed one, a kiss-o'-death
(stratum 0: RATE, DENY, ...), a server that says its clock is not synchronised (leap
indicator 3 or stratum 16), or a measured value past its unacceptable threshold.

SetUp lists chrony's configuration in the environment's own layout (the `chrony` aspect of
envs.toml: /etc/chrony/chrony.conf with conf.d/ and sources.d/, or /etc/chrony.conf) among
the service's configs, so that an Install changing it runs the checker and the reload.

Measured: `offset` (seconds, the server's clock minus the verifying server's, judged by its
absolute value), `delay` (round trip), `stratum`, `root_distance`. The offset is against the
clock of the server that verifies: when every partner shows the same offset, that server's
own clock is the one that is off.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from typing import Any, ClassVar

from atlas_ha.converters import chrony
from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context, SetUpResult, Target, Verifier
from atlas_ha.verifier.kinds.ntpwire import (
    LEAP_ALARM,
    STRATUM_UNSYNCHRONISED,
    Answer,
    NtpFormatError,
    build_request,
    from_wire,
    offset_and_delay,
    parse_answer,
    to_wire,
)
from atlas_ha.verifier.profile import Profile, Status, Threshold, from_checks, judged, worst
from atlas_ha.verifier.services import ServiceDef

MAX_PACKET = 1024
DEFAULT_THRESHOLDS = {
    "offset": Threshold(0.5, 5.0),
    "root_distance": Threshold(1.0, 1.5),
    "stratum": Threshold(10, 15),
}


@dataclass(frozen=True)
class Exchange:
    """One answered query: the answer and the four timestamps (Unix seconds)."""

    answer: Answer
    offset: float
    delay: float


class NtpVerifier(Verifier):
    kind: ClassVar[str] = "ntp"
    default_targets: ClassVar[str] = "partners"

    def setup(self, ctx: Context, service: ServiceDef) -> SetUpResult:
        fmt = ctx.server.envs[ctx.server.env_id].formats.get("chrony")
        own = list(chrony.paths(fmt)) if fmt else []
        return SetUpResult(configs=[*own, *(p for p in service.configs if p not in own)])

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        try:
            port, host, upstreams = _options(service, target)
        except ValueError as exc:
            return Profile(Status.UNKNOWN, str(exc))
        where = f"ntp {host}:{port}"
        clock = ctx.server.clock
        try:
            got = query(host, port, service.timeout, clock)
        except TimeoutError:
            return Profile(Status.CRITICAL, f"{where}: no answer within {service.timeout:g} s")
        except OSError as exc:
            return Profile(Status.CRITICAL, f"{where}: {exc.strerror or exc}")
        except NtpFormatError as exc:
            return Profile(Status.CRITICAL, f"{where}: malformed answer: {exc}")
        profile = judge(where, got, {**DEFAULT_THRESHOLDS, **service.thresholds})
        unreachable = []
        for upstream in upstreams:
            try:
                query(upstream, port, service.timeout, clock)
            except (OSError, NtpFormatError) as exc:
                if isinstance(exc, TimeoutError):
                    reason = "no answer"
                else:  # "Connection refused": its port is closed (an ICMP answer)
                    reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
                unreachable.append(f"upstream {upstream}: {reason}")
        if not unreachable:
            return profile
        return Profile(
            worst([profile.status, Status.WARNING]),
            f"{profile.summary}; {'; '.join(unreachable)}",
            profile.measurements,
            profile.details,
            {**profile.data, "unreachable": unreachable},
        )


def judge(where: str, got: Exchange, thresholds: dict[str, Threshold]) -> Profile:
    answer, failures = got.answer, []
    if answer.kiss_code is not None:
        failures.append(f"{where}: kiss-o'-death {answer.kiss_code} (the server refuses)")
    elif answer.leap == LEAP_ALARM or answer.stratum >= STRATUM_UNSYNCHRONISED:
        failures.append(
            f"{where}: the server's clock is not synchronised "
            f"(leap indicator {answer.leap}, stratum {answer.stratum})"
        )
    measured = [
        judged("offset", abs(got.offset), "s", thresholds),
        judged("delay", got.delay, "s", {}),
        judged("stratum", answer.stratum, "", thresholds),
        judged("root_distance", answer.root_distance, "s", thresholds),
    ]
    summary = (
        f"{where}: stratum {answer.stratum} from {answer.reference_id or '?'}, "
        f"offset {got.offset:+.4f} s"
    )
    details = (
        f"leap {answer.leap} version {answer.version} stratum {answer.stratum} "
        f"poll {answer.poll} precision {answer.precision}\n"
        f"root delay {answer.root_delay:.6f} s, root dispersion {answer.root_dispersion:.6f} s\n"
        f"reference {answer.reference_id} at {from_wire(answer.reference):.3f}"
    )
    data = {"offset": got.offset, "stratum": answer.stratum, "refid": answer.reference_id}
    return from_checks(failures, summary, measured, details, data)


def query(address: str, port: int, timeout: float, clock: Clock) -> Exchange:
    """One SNTP exchange with address:port. Raises TimeoutError, OSError or NtpFormatError."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    deadline = clock.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))  # only that server's own packets are received
        # The transmit timestamp is only echoed (as the answer's origin), never used by the
        # server: its fraction is random, so an answer must echo it to be ours. The offset
        # uses the real send time t1.
        transmit = (to_wire(clock.now()) & ~0xFFFFFFFF) | secrets.randbits(32)
        t1 = clock.now()
        sock.send(build_request(transmit))
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            packet = sock.recv(MAX_PACKET)
            t4 = clock.now()
            if len(packet) >= 48 and int.from_bytes(packet[24:32], "big") != transmit:
                continue  # a late answer to someone else's query, or a spoofed one
            answer = parse_answer(packet)
            offset, delay = offset_and_delay(
                t1, from_wire(answer.receive), from_wire(answer.transmit), t4
            )
            return Exchange(answer, offset, delay)


def _options(service: ServiceDef, target: Target) -> tuple[int, str, list[str]]:
    opts: dict[str, Any] = service.options
    where = f"service {service.name}"
    port = opts.get("port", 123)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{where}: options.port is a port number, not {port!r}")
    host = opts.get("host", target.address)
    if not isinstance(host, str) or not host:
        raise ValueError(f"{where}: options.host is an address, not {host!r}")
    servers = opts.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) and s for s in servers):
        raise ValueError(f"{where}: options.servers is a list of addresses")
    return port, host, list(servers)
