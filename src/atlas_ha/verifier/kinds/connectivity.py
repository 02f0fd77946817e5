"""Kind `connectivity`: IP reachability of each partner and of the gateway (ping).

    [service.net]
    kind = "connectivity"             # default targets: all (partners, and self = the gateway)
    [service.net.options]
    count = 3                         # echo requests per check (0.2 s apart, 1 s to answer)
    gateway = "192.0.2.1"             # default: the default route in <proc>/net/route
    proc = "/proc"
    [service.net.thresholds]
    loss = [20, 60]                   # % of requests unanswered (these are the defaults)
    rtt = [100, 500]                  # average round trip in ms

A partner target pings the partner's address; the server's own target pings the gateway.
Runs `ping -n -q -c COUNT -W 1 -i 0.2 ADDRESS` through the server's runner; 100 % loss is
CRITICAL whatever the thresholds.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from pathlib import Path

from atlas_ha.errors import AtlasError
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import (
    JUDGEMENT_STATUS,
    Measurement,
    Profile,
    Status,
    Threshold,
    from_checks,
)
from atlas_ha.verifier.services import ServiceDef

DEFAULTS = {"loss": Threshold(20, 60), "rtt": Threshold(100, 500)}
LOSS_RE = re.compile(
    r"(\d+) packets transmitted, (\d+) (?:packets )?received.*?([\d.]+)% packet loss"
)
RTT_RE = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


class ConnectivityVerifier(Verifier):
    kind = "connectivity"
    default_targets = "all"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        options = service.options
        count = options.get("count", 3)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            raise AtlasError(f"service {service.name}: options.count is 1..100")
        if target.own:
            address = options.get("gateway") or default_gateway(
                Path(str(options.get("proc", "/proc")))
            )
            what = "gateway"
            if not address:
                return Profile(Status.UNKNOWN, "no gateway: set options.gateway (no default route)")
        else:
            address, what = target.address, target.role
        address = str(ipaddress.ip_address(str(address)))
        argv = ["ping", "-n", "-q", "-c", str(count), "-W", "1", "-i", "0.2", address]
        done = ctx.server.runner.run(argv, timeout=service.timeout * 0.9, check=False)
        return ping_profile(done.stdout, done.stderr, done.returncode, f"{what} {address}", service)


def ping_profile(stdout: str, stderr: str, code: int, who: str, service: ServiceDef) -> Profile:
    loss_match = LOSS_RE.search(stdout)
    if loss_match is None:
        reason = (stderr or stdout).strip().splitlines()
        return Profile(
            Status.CRITICAL if code in (1, 2) else Status.UNKNOWN,
            f"{who}: ping failed (exit {code}): {reason[-1] if reason else 'no output'}",
        )
    sent, received, loss = (
        int(loss_match.group(1)),
        int(loss_match.group(2)),
        float(loss_match.group(3)),
    )
    measured = [_judged("loss", loss, "%", service)]
    if rtt := RTT_RE.search(stdout):
        measured.append(_judged("rtt", float(rtt.group(2)), "ms", service))
    failures = [f"{who}: unreachable ({sent} sent, none answered)"] if received == 0 else []
    return from_checks(
        failures,
        f"{who} reachable ({received}/{sent} answered)",
        measured,
        details=stdout.strip(),
    )


def _judged(label: str, value: float, uom: str, service: ServiceDef) -> tuple[Measurement, Status]:
    threshold = service.thresholds.get(label) or DEFAULTS[label]
    judgement = threshold.judge(value)
    measurement = Measurement(
        label, value, uom, judgement, f"{threshold.slow:g}", f"{threshold.unacceptable:g}"
    )
    return measurement, JUDGEMENT_STATUS[judgement]


def default_gateway(proc: Path) -> str | None:
    """The IPv4 gateway of the default route in <proc>/net/route, if any."""
    try:
        lines = (proc / "net" / "route").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000" and fields[2] != "00000000":
            try:
                return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
            except (ValueError, struct.error):
                continue
    return None
