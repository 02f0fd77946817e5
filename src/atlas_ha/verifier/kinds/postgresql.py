"""The postgresql verifier: a verifier table, exercised with psql (the real client protocol).

SetUp (PRI): connect to this server's own PostgreSQL, create or update the verifier table
``atlas_verifier.token`` (one row: the cycle's token) and ``atlas_verifier.probe`` (written
in rolled-back transactions only), and write the token into a synced data file
``/var/lib/atlas-ha/verifier/<name>.token``.

after_install (SEC): a SEC's cluster holds no client data, so the table cannot arrive as a
file: it is created and set from the synced token file on the SEC's own PostgreSQL.

Verify (any server, against a partner's address): connect as the verifier role, read the
token (the PRI accepts its recent tokens, a SEC its installed one or newer), insert into the
probe table inside a transaction that is rolled back, all within the service's timeout
(PGCONNECT_TIMEOUT, statement_timeout, and the process deadline). Measurement: ``time`` (s,
connect + queries), judged by the service's thresholds.

Options: ``database`` (default "postgres"), ``user`` (default "atlas_verifier"),
``password_file`` (a synced secret file, mode 0600), ``port`` (5432), ``host`` (the address
SetUp and after_install use for this server's own PostgreSQL; default: this server's
address), ``psql`` (default "psql").
"""

from __future__ import annotations

import os
import time

from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.sync.address import own_address
from atlas_ha.system import Completed
from atlas_ha.verifier.api import Context, SetUpResult, Target, Verifier
from atlas_ha.verifier.profile import Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.setup import accepts, data_file

SCHEMA = "atlas_verifier"
APPLY = """
CREATE SCHEMA IF NOT EXISTS atlas_verifier;
CREATE TABLE IF NOT EXISTS atlas_verifier.token (
    id integer PRIMARY KEY CHECK (id = 1), token text NOT NULL, set_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS atlas_verifier.probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO atlas_verifier.token (id, token, set_at) VALUES (1, :'token', now())
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, set_at = EXCLUDED.set_at;
"""
PROBE = """
SELECT 'token=' || token FROM atlas_verifier.token WHERE id = 1;
BEGIN;
INSERT INTO atlas_verifier.probe (at) VALUES (now());
ROLLBACK;
SELECT 'done';
"""


class PostgresqlVerifier(Verifier):
    kind = "postgresql"
    default_targets = "partners"

    def setup(self, ctx: Context, service: ServiceDef) -> SetUpResult:
        result = SetUpResult(configs=list(service.configs))
        secret = service.options.get("password_file")
        if isinstance(secret, str):
            result.configs.append(secret)
        record = data_file(service, "token")
        atomic_write(ctx.in_root(record), ctx.token + "\n", mode=0o644)
        result.data.append(record)
        try:
            _apply(ctx, service, ctx.token)
        except AtlasError as exc:
            result.notes.append(f"verifier table not set: {exc}")
        return result

    def after_install(self, ctx: Context, service: ServiceDef, changed: list[str]) -> list[str]:
        token = _installed_token(ctx, service)
        if not token:
            return [f"no token file {data_file(service, 'token')}: nothing applied"]
        _apply(ctx, service, token)
        return [f"verifier table set to {token}"]

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        installed = _installed_token(ctx, service)
        started = time.monotonic()
        try:
            done = _psql(ctx, service, target.address, PROBE, {}, service.timeout)
        except AtlasError as exc:  # the process deadline, psql missing, the password file
            hung = "no answer within" in str(exc)
            reason = f"timed out after {service.timeout:g} s" if hung else str(exc)
            return Profile(
                Status.CRITICAL, f"{target.role} {target.address}: {reason}", details=str(exc)
            )
        elapsed = time.monotonic() - started
        failures = []
        lines = done.stdout.splitlines()
        if done.returncode != 0:
            failures.append(f"psql exit {done.returncode}: {_error(done.stderr)}")
        seen = next((line[6:] for line in lines if line.startswith("token=")), None)
        if done.returncode == 0 and seen is None:
            failures.append("verifier table is empty")
        elif seen is not None and not accepts(ctx.server, ctx.role, seen, installed):
            failures.append(f"wrong token {seen} (expected {installed or 'a recent one'})")
        if done.returncode == 0 and "done" not in lines:
            failures.append("the rolled-back write did not complete")
        return from_checks(
            failures,
            f"token read, write rolled back on {target.role} {target.address}",
            [judged("time", round(elapsed, 4), "s", service.thresholds)],
            details=done.stderr.strip(),
            data={"token_seen": seen},
        )


def _installed_token(ctx: Context, service: ServiceDef) -> str:
    try:
        return ctx.in_root(data_file(service, "token")).read_text().strip()
    except OSError:
        return ""


def _apply(ctx: Context, service: ServiceDef, token: str) -> None:
    host = service.options.get("host") or own_address(ctx.server)
    done = _psql(ctx, service, str(host), APPLY, {"token": token}, service.timeout)
    if done.returncode != 0:
        raise AtlasError(f"psql on {host}: exit {done.returncode}: {_error(done.stderr)}")


def _error(stderr: str) -> str:
    """The line of psql's messages that says what went wrong (not the query context)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in ("ERROR:", "FATAL:", "error:", "timeout")):
            return line.removeprefix("psql:").strip()
    return lines[-1] if lines else "no message"


def _psql(
    ctx: Context,
    service: ServiceDef,
    host: str,
    script: str,
    variables: dict[str, str],
    timeout: float,
) -> Completed:
    opts = service.options
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # libpq's own limit (whole seconds, at least 2) ends first; the process deadline is
        # the backstop for a server that accepts and then stalls
        "PGCONNECT_TIMEOUT": str(max(2, int(timeout) - 1)),
        "PGOPTIONS": f"-c statement_timeout={int(timeout * 1000)}",
        "PGAPPNAME": "atlas-ha-verifier",
        "PGSSLMODE": str(opts.get("sslmode", "prefer")),
    }
    password = _password(ctx, service)
    if password is not None:
        env["PGPASSWORD"] = password
    argv = [
        str(opts.get("psql", "psql")),
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        host,
        "-p",
        str(opts.get("port", 5432)),
        "-U",
        str(opts.get("user", "atlas_verifier")),
        "-d",
        str(opts.get("database", "postgres")),
    ]
    for name, value in variables.items():
        argv += ["-v", f"{name}={value}"]
    return ctx.server.runner.run(argv, input_text=script, env=env, timeout=timeout, check=False)


def _password(ctx: Context, service: ServiceDef) -> str | None:
    path = service.options.get("password_file")
    if not isinstance(path, str):
        return None
    return ctx.read_secret(path)
