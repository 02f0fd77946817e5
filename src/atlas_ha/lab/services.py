"""The lab's real services: nginx (a static site and a restricted location) and its files.

The site configuration is synced (SyncFiles, in each environment's own place: conf.d or
sites-enabled); the main nginx.conf is Bound Data of each server, written here in that
server's system root, including the site directory of its own environment. The restricted
location is auth_basic with a synced htpasswd (relative to /etc/nginx, so each server reads
its own system root's copy).

The services file (web = http, db = postgresql) and the verifier's secrets are written on the
PRI and synced. The document root lives on the plugged disk, which each server's namespaces
mount on the lab's common mount point; the same path inside each system root is a symlink to
the plugged disk, so what SetUp writes there is what nginx serves.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from atlas_ha.lab.postgres import VERIFIER_PASSWORD, VERIFIER_USER
from atlas_ha.layout.atomic import atomic_write

NGINX = "/usr/sbin/nginx"
# Loopback mode has no mount namespace: the document root is relative to nginx's prefix (the
# server's /etc/nginx), where `unbound` links to the server's plugged disk.
LOOP_DOCROOT = Path("unbound/www")
DB_PAGE = "/dbpage"  # served by dbpage.py (namespace lab)
HTPASSWD = "htpasswd-acme"  # relative: /etc/nginx/htpasswd-acme of each server's system root
STAFF = ("staff", "staff-lab-password")  # the client's account for /private/
WEB_SECRET = "/etc/atlas-ha/secrets/web"  # noqa: S105 (a path)
DB_SECRET = "/etc/atlas-ha/secrets/db"  # noqa: S105 (a path)
RELOAD = [
    NGINX,
    "-p",
    "{root}/../run/",
    "-e",
    "{root}/../run/nginx-error.log",
    "-c",
    "{root}/etc/nginx/nginx.conf",
    "-s",
    "reload",
]
SERVICES = f"""# the lab group's services (synced from the PRI)
[defaults]
interval = 30
timeout = 5

[service.web]
kind = "http"
reload = [{", ".join(f'"{a}"' for a in RELOAD)}]
[service.web.thresholds]
time = [1.0, 3.0]                  # a shared test machine: seconds under load are not the point
[service.web.options]
credentials = "{WEB_SECRET}"

[service.sentry]
kind = "sentry"

[service.ssh]
kind = "ssh"

[service.net]
kind = "connectivity"
targets = "partners"

[service.db]
kind = "postgresql"
[service.db.thresholds]
time = [2.5, 5.0]                  # connect, read, write rolled back: 1.2 s seen under load
[service.db.options]
database = "acme"
user = "{VERIFIER_USER}"
password_file = "{DB_SECRET}"
"""


def site(docroot: Path) -> bytes:
    """The namespace lab's site: static pages, a restricted location, and the page generated
    from the database by the lab's small application (dbpage.py, on 127.0.0.1 of the
    server's own network namespace)."""
    return (
        f"server {{\n    listen 80;\n    server_name www.acme.lan;\n    root {docroot};\n"
        f'    location /private/ {{\n        auth_basic "ACME staff";\n'
        f"        auth_basic_user_file {HTPASSWD};\n    }}\n"
        f"    location = {DB_PAGE} {{\n        proxy_pass http://127.0.0.1:8008;\n    }}\n}}\n"
    ).encode()


def site_body(docroot: Path) -> bytes:
    """The site as the body of a server block (loopback mode: the main conf, Bound Data,
    holds `listen` with this server's own address, since several nginx share the port)."""
    return (
        f"server_name www.acme.lan;\nroot {docroot};\n"
        f'location /private/ {{\n    auth_basic "ACME staff";\n'
        f"    auth_basic_user_file {HTPASSWD};\n}}\n"
    ).encode()


def htpasswd_line(user: str, password: str, salt: bytes | None = None) -> str:
    """An nginx htpasswd entry in the {SSHA} scheme (salted SHA-1)."""
    salt = salt if salt is not None else os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 (nginx's scheme)
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


def write_verifier_files(root: Path, extra: str = "") -> None:
    """On the PRI: the services file (with `extra` service definitions), the htpasswd and the
    verifier's secrets (all synced)."""
    atomic_write(root / "etc/atlas-ha/services.toml", SERVICES + extra)
    atomic_write(
        root / "etc/nginx" / HTPASSWD,
        htpasswd_line(*STAFF) + htpasswd_line(VERIFIER_USER, VERIFIER_PASSWORD),
    )
    atomic_write(root / WEB_SECRET.lstrip("/"), f"{VERIFIER_USER}:{VERIFIER_PASSWORD}\n", 0o600)
    atomic_write(root / DB_SECRET.lstrip("/"), f"{VERIFIER_PASSWORD}\n", 0o600)


def mirror_mount(root: Path, mountpoint: Path, plugged: Path) -> None:
    """The lab's common mount point, inside the system root: a link to the plugged disk."""
    link = root / str(mountpoint).lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(plugged)


def loop_docroot_link(root: Path, plugged: Path) -> None:
    """Loopback mode: /etc/nginx/unbound in the system root links to the plugged disk, so the
    relative document root `unbound/www` (nginx's prefix is /etc/nginx there) is on it."""
    link = root / "etc" / "nginx" / "unbound"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(plugged)


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
