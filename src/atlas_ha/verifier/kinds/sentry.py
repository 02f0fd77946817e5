"""The `sentry` verifier: the Sentry itself (SPEC 8.6), on this server and on its partners.

On itself (target.own), see sentry_self.py:
  * daemon alive: when ESD_DATA/daemon.pid (option `pidfile`) exists, the process it names
    runs and its command line contains "atlas" (option `daemon_match`); else CRITICAL;
  * age of the last good SyncCycle (`cycle_age`, judged by thresholds, default [900, 1800] s):
    on the PRI the last cycle report with every SEC reached and equal
    (SID_DATA/.results/last-cycle.json; the sentry remembers the last good one it saw); on a
    SEC the last PRI snapshot received (each cycle sends one);
  * suspended (SID_DATA/.results/suspended.json, sync/suspension.py): WARNING on every round;
  * the last Snapshot Compare (PRI): stale/missing/invalid SECs CRITICAL, different WARNING;
  * role/identity: the role booted with (ESD_DATA/CurrentRole) is the disk's role; the
    installed identity's address (read in this server's own format) is the role's (the
    identity of its snapshot) and not an address MasterConfig gives a partner.
Against a partner: over the Synchronizer's own transport, ask who answers the partner's
address (the read-only `role` request, then the usual `hello` with our MasterConfig, which
the partner verifies as for a SyncUp; both records of the wire protocol, so a malformed
answer is CRITICAL naming its field). CRITICAL when the answering server holds another
role ("two servers claim PRI" when it is PRI and so are we), belongs to another group,
refuses our hello, or cannot be reached. Measured: `session` (seconds).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from atlas_ha.errors import AtlasError, RefusedError, TransportError
from atlas_ha.model import ROLE_RE, MasterConfig, Partner
from atlas_ha.sync.address import own_address
from atlas_ha.transport import make_transport
from atlas_ha.transport.base import Connection
from atlas_ha.transport.protocol import Hello, Role
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.kinds.sentry_self import Findings, check_self
from atlas_ha.verifier.profile import Profile, Status, judged, worst
from atlas_ha.verifier.services import ServiceDef


class SentryVerifier(Verifier):
    kind: ClassVar[str] = "sentry"
    default_targets: ClassVar[str] = "all"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        found = Findings()
        if target.own:
            check_self(ctx, service, found)
            ok = f"sentry {ctx.role}: consistent, last cycle in time"
        else:
            check_partner(ctx, service, target, found)
            ok = f"sentry {target.role} at {target.address}: answers as {target.role}"
        return profile_of(found, ok)


def profile_of(found: Findings, ok: str) -> Profile:
    statuses = [s for s, _t in found.items] + [s for _m, s in found.measured]
    status = worst(statuses)
    worst_items = [t for s, t in found.items if s is status]
    summary = "; ".join(worst_items) if status is not Status.OK and worst_items else ok
    measurements = tuple(m for m, _s in found.measured)
    return Profile(status, summary, measurements, "\n".join(found.details), found.data)


def check_partner(ctx: Context, service: ServiceDef, target: Target, found: Findings) -> None:
    server = ctx.server
    master = server.master()
    where = f"{target.address} ({target.role}'s address)"
    started = time.monotonic()
    try:
        transport = make_transport(server.settings)
        partner = Partner(target.address, target.ssh_port, target.ssh_user)
        conn = transport.connect(target.role, partner, own_address(server))
        with conn, Watchdog(conn, service.timeout):
            answered = ask_role(conn)
            hello = say_hello(conn, master)
    except AtlasError as exc:
        if time.monotonic() - started >= service.timeout:
            found.add(Status.CRITICAL, f"{where}: no answer within {service.timeout:g} s")
        elif isinstance(exc, TransportError):
            found.add(Status.CRITICAL, f"{where}: unreachable: {exc}")
        else:
            found.add(Status.CRITICAL, f"{where}: {exc}")
        return
    found.measured.append(judged("session", time.monotonic() - started, "s", service.thresholds))
    role = answered.get("role") if answered else hello.get("role")
    found.data.update(answered_role=role, answered_group=answered.get("group"))
    judge_answer(master, target, where, answered, role, found)
    if "refused" in hello:
        found.add(Status.CRITICAL, f"{where}: refuses our hello: {hello['refused']}")


def judge_answer(
    master: MasterConfig,
    target: Target,
    where: str,
    answered: dict[str, Any],
    role: object,
    found: Findings,
) -> None:
    group = answered.get("group")
    if role is not None and not (isinstance(role, str) and ROLE_RE.match(role)):
        found.add(Status.CRITICAL, f"{where} answers with a malformed role {str(role)[:40]!r}")
        return
    if group is not None and group != master.group:
        found.add(Status.CRITICAL, f"{where} is answered by a server of group {str(group)[:40]!r}")
    if role is None:
        return
    if role == "PRI" and master.is_pri:
        found.add(
            Status.CRITICAL,
            f"two servers claim PRI: this one and the one answering {where}",
        )
    elif role != target.role:
        found.add(Status.CRITICAL, f"{where} is answered by a server holding {role}")
    else:
        found.details.append(f"{where} answered by {role}")


def ask_role(conn: Connection) -> dict[str, Any]:
    """Who answers: role, group, EnvID ({} from a partner without the `role` request: an
    atlas-ha from before it answered "unknown operation")."""
    try:
        answer = conn.request(Role())
    except RefusedError as exc:
        if "unknown operation" in str(exc):
            return {}
        raise
    return {"role": answer.role, "group": answer.group, "env": answer.env}


def say_hello(conn: Connection, master: MasterConfig) -> dict[str, Any]:
    """The partner's verdict on us as its partner (SPEC 5.8): its answer or its refusal."""
    try:
        answer = conn.request(Hello.offer(master.render()))
    except RefusedError as exc:
        return {"refused": str(exc)}
    return {"role": answer.role, "env": answer.env, "protocol": answer.protocol}


class Watchdog:
    """Ends a connection's child process if the session outlives the timeout (a partner that
    accepts and never answers must not hold the check)."""

    def __init__(self, conn: Connection, timeout: float) -> None:
        self.conn = conn
        self.timer = threading.Timer(timeout, self.fire)
        self.timer.daemon = True

    def fire(self) -> None:
        proc = getattr(self.conn, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def __enter__(self) -> Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.timer.cancel()
