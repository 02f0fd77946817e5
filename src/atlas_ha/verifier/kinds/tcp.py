"""Kind `tcp`: a TCP port accepts connections (and optionally answers with the expected banner).

    [service.smtp-port]
    kind = "tcp"
    timeout = 5
    [service.smtp-port.thresholds]
    connect = [0.2, 1.0]          # seconds to establish the connection: slow, unacceptable
    [service.smtp-port.options]
    port = 25
    send = "QUIT\\r\\n"           # optional: sent right after connecting
    expect = "220 "               # optional: then the answer must contain this text
    host = "127.0.0.1"            # optional: this address instead of the target's

As with check_tcp: send first (if any), then read until the expected text appears, the peer
closes or 4 KiB arrived. Measured: `connect` (s) and `time` (s, the whole exchange). Every
socket operation is bounded by the service's timeout, so a service that accepts and never
answers is CRITICAL in time.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from atlas_ha.errors import AtlasError
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef

MAX_BANNER = 4096


class TcpVerifier(Verifier):
    kind = "tcp"
    default_targets = "partners"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        options = service.options
        port = _port(options.get("port"), service)
        host = str(options.get("host") or target.address)
        send = str(options.get("send", "")).encode()
        expect = str(options.get("expect", ""))
        where = f"{host}:{port}"
        clock = ctx.server.clock
        started = clock.monotonic()
        try:
            sock = socket.create_connection((host, port), timeout=service.timeout)
        except TimeoutError:
            return Profile(Status.CRITICAL, f"{where}: no connection within {service.timeout:g} s")
        except OSError as exc:
            return Profile(Status.CRITICAL, f"{where}: {exc.strerror or exc}")
        connect = clock.monotonic() - started
        failures: list[str] = []
        banner = ""
        with sock:
            sock.settimeout(max(0.01, service.timeout - connect))
            try:
                if send:
                    sock.sendall(send)
                if expect:
                    deadline = started + service.timeout
                    banner = _read_until(sock, expect, lambda: deadline - clock.monotonic())
                    if expect not in banner:
                        failures.append(f"{where}: expected {expect!r}, got {banner[:80]!r}")
            except TimeoutError:
                failures.append(f"{where}: no answer within {service.timeout:g} s")
            except OSError as exc:
                failures.append(f"{where}: {exc.strerror or exc}")
        total = clock.monotonic() - started
        measured = [
            judged("connect", connect, "s", service.thresholds),
            judged("time", total, "s", service.thresholds),
        ]
        summary = f"{where} accepts connections" + (f", answers {expect!r}" if expect else "")
        return from_checks(failures, summary, measured, details=banner, data={"port": port})


def _port(value: Any, service: ServiceDef) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise AtlasError(f"service {service.name}: options.port = 1..65535 is required")
    return value


def _read_until(sock: socket.socket, expect: str, remaining: Callable[[], float]) -> str:
    """Read until `expect` appears, the peer closes, or MAX_BANNER bytes (timeout: raises)."""
    received = b""
    while expect.encode() not in received and len(received) < MAX_BANNER:
        left = remaining()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(1024)
        if not chunk:
            break
        received += chunk
    return received.decode(errors="replace")
