"""The namespace lab's small web application: a page generated from the database.

nginx proxies `location = /dbpage` of the site to it (127.0.0.1:8008 in each server's own
network namespace); on every request it reads the verifier table of that server's own
PostgreSQL with psql (as the verifier's role) and renders the token it holds, so the http
kind's `db_page` check proves web -> application -> database on that server. Run as
`python -m atlas_ha.lab.dbpage HOST DATABASE USER PASSWORD_FILE`; it answers 503 naming
psql's error when the database does not answer.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from atlas_ha.lab import host, postgres
from atlas_ha.lab.postgres import PG_BIN, VERIFIER_USER
from atlas_ha.lab.services import DB_PAGE, DB_SECRET, WEB_SECRET

LISTEN = ("127.0.0.1", 8008)
DATABASE = "acme"  # the db service's database, where its SetUp keeps the verifier table
QUERY = "SELECT token FROM atlas_verifier.token WHERE id = 1"


def read_token(address: str, database: str, user: str, password: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "3"}
    argv = [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-h", address, "-U", user]
    argv += ["-d", database, "-c", QUERY]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=5, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise OSError(lines[0].removeprefix("psql: ") if lines else f"psql exit {done.returncode}")
    return done.stdout.strip()


def handler(address: str, database: str, user: str, secret: Path) -> type[BaseHTTPRequestHandler]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                password = secret.read_text().strip()
                token = read_token(address, database, user, password)
                status, text = 200, f"ACME office: atlas-ha verifier token {token}"
            except (OSError, subprocess.SubprocessError) as exc:
                status, text = 503, f"database unavailable: {exc}"
            data = f"<p>{html.escape(text)}</p>\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()

    return Page


def argv(address: str, database: str, user: str, secret: Path) -> list[str]:
    return [sys.executable, "-m", "atlas_ha.lab.dbpage", address, database, user, str(secret)]


def start(anchor: int | None, root: Path, run: Path, address: str) -> int:
    """The application in the server's namespaces, reading its own PostgreSQL at `address`
    as the verifier's role (the password from the synced secret of the db service)."""
    secret = root / DB_SECRET.lstrip("/")
    command = argv(address, DATABASE, VERIFIER_USER, secret)
    return host.spawn(anchor, command, run / "dbpage.log", b"listening", "dbpage")


def services() -> str:
    """A second http service whose check includes the page from the database (namespace lab
    with PostgreSQL; the site's static probes run in it too)."""
    if not postgres.available():
        return ""
    return (
        '\n[service.dbpage]\nkind = "http"\n[service.dbpage.options]\n'
        f'credentials = "{WEB_SECRET}"\ndb_page = "{DB_PAGE}"\n'
    )


def main() -> None:
    address, database, user, secret = sys.argv[1:5]
    server = ThreadingHTTPServer(LISTEN, handler(address, database, user, Path(secret)))
    print(f"listening on {LISTEN[0]}:{LISTEN[1]} (pid {os.getpid()})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
