"""PostgreSQL in the lab: one cluster per disk (the database travels with the role).

The PRI's disk holds the real client data (database `acme`, table `customers`); a SEC's
disk holds a skeleton cluster only. Each server runs its postmaster in its own namespaces,
listening on its current address, with its own socket directory. Clients on the lab network
authenticate with scram-sha-256.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from atlas_ha.system import Runner

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENT_USER = "acme"
CLIENT_PASSWORD = "acme-lab-password"  # noqa: S105 (lab-only account on a closed network)
VERIFIER_USER = "atlas_verifier"
VERIFIER_PASSWORD = "verifier-lab-password"  # noqa: S105 (lab-only account on a closed network)
ROWS = ("Ada Lovelace", "Grace Hopper", "Edsger Dijkstra")


def available() -> bool:
    return (PG_BIN / "postgres").exists()


def as_postgres(*argv: str) -> list[str]:
    """As root: run as the postgres user (PostgreSQL refuses root). Otherwise: as ourselves."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--", *argv]


def traversable(path: Path) -> None:
    """Let the postgres user reach `path` (search permission only, on root-owned parents)."""
    if os.geteuid() != 0:
        return  # an unprivileged lab runs PostgreSQL as its own user
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == 0 and not st.st_mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


def _chown_postgres(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def init_cluster(runner: Runner, disk: Path, subnet: str, client_data: bool) -> None:
    data = disk / "pgdata"
    _chown_postgres(data)
    traversable(disk)
    runner.run(
        as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ),
        timeout=120,
    )
    statements = [
        f"CREATE ROLE {CLIENT_USER} LOGIN PASSWORD '{CLIENT_PASSWORD}';",
        f"CREATE DATABASE {CLIENT_USER} OWNER {CLIENT_USER};",
        # the verifier's role: it owns the schema atlas_verifier it creates (SetUp/after install)
        f"CREATE ROLE {VERIFIER_USER} LOGIN PASSWORD '{VERIFIER_PASSWORD}';",
        f"GRANT CREATE ON DATABASE {CLIENT_USER} TO {VERIFIER_USER};",
    ]
    single(runner, data, "postgres", statements)
    if client_data:
        rows = ", ".join(f"('{name}')" for name in ROWS)
        single(
            runner,
            data,
            CLIENT_USER,
            [
                "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);",
                f"INSERT INTO customers (name) VALUES {rows};",  # noqa: S608 (constants)
                f"ALTER TABLE customers OWNER TO {CLIENT_USER};",
            ],
        )


def single(runner: Runner, data: Path, database: str, statements: list[str]) -> None:
    """Run statements in single-user mode (no server running, no network)."""
    runner.run(
        as_postgres(str(PG_BIN / "postgres"), "--single", "-D", str(data), database),
        input_text="\n".join(statements) + "\n",
        timeout=60,
    )


def server_files(subnet: str) -> dict[str, bytes]:
    """postgresql.conf and pg_hba.conf as the OS installs them (system root, env location)."""
    conf = b"listen_addresses = '*'\nport = 5432\nmax_connections = 50\n"
    hba = (
        "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
        f"host all all {subnet} scram-sha-256\n"
    ).encode()
    return {"postgresql.conf": conf, "pg_hba.conf": hba}


def postmaster_argv(
    data: Path, conf_dir: Path, sockets: Path, listen: tuple[str, int] | None = None
) -> list[str]:
    """The postmaster of a disk's cluster, configured from the server's system root;
    `listen` overrides the configured address and port (loopback mode shares the host)."""
    _chown_postgres(sockets)
    traversable(conf_dir)
    where = ["-c", f"listen_addresses={listen[0]}", "-c", f"port={listen[1]}"] if listen else []
    return as_postgres(
        str(PG_BIN / "postgres"),
        "-D",
        str(data),
        "-c",
        f"config_file={conf_dir / 'postgresql.conf'}",
        "-c",
        f"hba_file={conf_dir / 'pg_hba.conf'}",
        "-c",
        f"unix_socket_directories={sockets}",
        *where,
    )


def reload_argv(data: Path) -> list[str]:
    """Make the running postmaster of `data` re-read its configuration (SIGHUP via pg_ctl)."""
    return as_postgres(str(PG_BIN / "pg_ctl"), "reload", "-s", "-D", str(data))
