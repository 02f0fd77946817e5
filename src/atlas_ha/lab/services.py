"""The lab's real services: nginx (a static site and a restricted location) and its files.

The site configuration is synced (SyncFiles, in each environment's own place: conf.d or
sites-enabled); the main nginx.conf is Bound Data of each server, written here in that
server's system root, including the site directory of its own environment.
"""

from __future__ import annotations

from pathlib import Path

from atlas_ha.layout.atomic import atomic_write

NGINX = "/usr/sbin/nginx"


def site(docroot: Path) -> bytes:
    return (
        f"server {{\n    listen 80;\n    server_name www.acme.lan;\n    root {docroot};\n"
        f"    location /private/ {{\n        deny all;\n    }}\n}}\n"
    ).encode()


def main_conf(root: Path, run: Path, nginx_format: str) -> str:
    include = (
        f"{root}/etc/nginx/conf.d/*.conf"
        if nginx_format == "conf.d"
        else f"{root}/etc/nginx/sites-enabled/*"
    )
    temps = "\n".join(
        f"    {kind}_temp_path {run}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"user root root;\nworker_processes 1;\npid {run}/nginx.pid;\n"
        f"error_log {run}/nginx-error.log;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log {run}/nginx-access.log;\n{temps}\n"
        f"    include {include};\n}}\n"
    )


def write_nginx(root: Path, run: Path, nginx_format: str) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    conf = root / "etc" / "nginx" / "nginx.conf"
    atomic_write(conf, main_conf(root, run, nginx_format))
    return conf


def nginx_argv(run: Path, conf: Path, *extra: str) -> list[str]:
    return [NGINX, "-p", f"{run}/", "-e", f"{run}/nginx-error.log", "-c", str(conf), *extra]


def client_data(disk: Path, owner: str) -> None:
    """The web content of a disk: the PRI's real pages, or a SEC's skeleton."""
    www = disk / "www"
    (www / "private").mkdir(parents=True, exist_ok=True)
    atomic_write(www / "index.html", f"<h1>ACME office</h1><p>{owner}</p>\n")
    atomic_write(www / "private" / "payroll.html", "salaries\n")
