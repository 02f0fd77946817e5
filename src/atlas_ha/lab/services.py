"""The lab's real services: nginx (a static site and a restricted location) and its files.

The site configuration is synced (SyncFiles, in each environment's own place: conf.d or
sites-enabled); the main nginx.conf is Bound Data of each server, written here in that
server's system root, including the site directory of its own environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from atlas_ha.layout.atomic import atomic_write

NGINX = "/usr/sbin/nginx"
# Loopback mode has no mount namespace: the document root is relative to nginx's prefix (the
# server's directory), where `unbound` is the server's link to its plugged disk.
LOOP_DOCROOT = Path("unbound/www")


def site(docroot: Path) -> bytes:
    return (
        f"server {{\n    listen 80;\n    server_name www.acme.lan;\n    root {docroot};\n"
        f"    location /private/ {{\n        deny all;\n    }}\n}}\n"
    ).encode()


def site_body(docroot: Path) -> bytes:
    """The site as the body of a server block (loopback mode: the main conf, Bound Data,
    holds `listen` with this server's own address, since several nginx share the port)."""
    return (
        f"server_name www.acme.lan;\nroot {docroot};\nlocation /private/ {{\n    deny all;\n}}\n"
    ).encode()


def main_conf(root: Path, run: Path, nginx_format: str, listen: str | None = None) -> str:
    include = (
        f"{root}/etc/nginx/conf.d/*.conf"
        if nginx_format == "conf.d"
        else f"{root}/etc/nginx/sites-enabled/*"
    )
    if listen:
        include = f"server {{\n        listen {listen};\n        include {include};\n    }}"
    else:
        include = f"include {include};"
    temps = "\n".join(
        f"    {kind}_temp_path {run}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""  # unprivileged: as ourselves
    return (
        f"{user}worker_processes 1;\npid {run}/nginx.pid;\n"
        f"error_log {run}/nginx-error.log;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log {run}/nginx-access.log;\n{temps}\n"
        f"    {include}\n}}\n"
    )


def write_nginx(root: Path, run: Path, nginx_format: str, listen: str | None = None) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    conf = root / "etc" / "nginx" / "nginx.conf"
    atomic_write(conf, main_conf(root, run, nginx_format, listen))
    return conf


def nginx_argv(prefix: Path, run: Path, conf: Path, *extra: str) -> list[str]:
    return [NGINX, "-p", f"{prefix}/", "-e", f"{run}/nginx-error.log", "-c", str(conf), *extra]


def client_data(disk: Path, owner: str) -> None:
    """The web content of a disk: the PRI's real pages, or a SEC's skeleton."""
    www = disk / "www"
    (www / "private").mkdir(parents=True, exist_ok=True)
    atomic_write(www / "index.html", f"<h1>ACME office</h1><p>{owner}</p>\n")
    atomic_write(www / "private" / "payroll.html", "salaries\n")
