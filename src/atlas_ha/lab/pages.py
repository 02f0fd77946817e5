"""Every lab server's status page (report/web), served by its daemon behind the lab's token.

Namespace lab: on 0.0.0.0:8470 of the server's own network namespace (its lab address and its
own 127.0.0.1: nothing else is there). Loopback lab: the servers share the host, so each has
its own port on 127.0.0.1 (8471, 8472 ... in the order of the servers). Either way the page
requires the token (report/web/auth.py: with a credential configured every request presents
one); the lab keeps it as the header `curl -H @FILE` sends (mode 0600), so it is never on a
command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atlas_ha.layout.atomic import atomic_write
from atlas_ha.report.web.auth import new_token

if TYPE_CHECKING:
    from atlas_ha.lab.lab import Lab

PAGE_PORT = 8470


def listen(loopback: bool, index: int) -> str:
    """`[report] listen` of the server at `index` (0, 1, ...) of the lab."""
    if loopback:
        return f"127.0.0.1:{PAGE_PORT + 1 + index}"
    return f"0.0.0.0:{PAGE_PORT}"  # its own namespace: the lab address and lo


def url(listen_at: str, path: str = "/") -> str:
    """The page as a command run on that server (`lab exec`) reaches it."""
    return f"http://127.0.0.1:{listen_at.rpartition(':')[2]}{path}"


def write_auth(auth_file: Path) -> str:
    """A fresh token, kept as its Authorization header in `auth_file`: the SHA-256 for the
    settings."""
    token, digest = new_token()
    atomic_write(auth_file, f"Authorization: Bearer {token}\n", 0o600)
    return digest


def section(listen_at: str, token_hash: str) -> str:
    """The `[report]` section of a lab server's settings (the token: an operator's)."""
    return (
        f'\n[report]\nlisten = "{listen_at}"\n'
        f'[report.auth.tokens.lab]\nrole = "operator"\nsha256 = "{token_hash}"\n'
    )


def curl(auth_file: Path | None, where: str) -> list[str]:
    """curl asking `where`, with the lab's token unless `auth_file` is None; its output ends
    with the HTTP status on a line of its own (see `answer`)."""
    argv = ["curl", "-s", "-m", "10", "-w", "\n%{http_code}"]
    return [*argv, *(["-H", f"@{auth_file}"] if auth_file else []), where]


def answer(stdout: str) -> tuple[int, str]:
    """(HTTP status, body) from `curl`'s output; status 0 when nothing answered."""
    body, _sep, code = stdout.rpartition("\n")
    return (int(code) if code.isdigit() and code != "000" else 0), body


def access(lab: Lab, name: str) -> str:
    """How an administrator on the host opens server `name`'s page (a command)."""
    where, auth = url(lab.page_listen(name)), lab.report_auth_file
    if lab.mode.name == "loopback":  # on the host itself
        return f"curl -s -H @{auth} {where}"
    return f"atlas-ha lab --dir {lab.base} exec {name} -- curl -s -H @{auth} {where}"


def fetch(lab: Lab, name: str, path: str = "/", token: bool = True) -> tuple[int, str]:
    """(HTTP status, body) of server `name`'s page, asked on that server with the lab's
    token (or without); status 0 when nothing answers."""
    argv = curl(lab.report_auth_file if token else None, url(lab.page_listen(name), path))
    return answer(lab.exec(name, argv, timeout=30).stdout)
