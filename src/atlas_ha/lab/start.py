"""What a lab server is given before its first boot and runs once booted (lab/lab.py calls
these with itself): the installed services, its status page behind the lab's token and the
alert rules mailing the SMTP sink (`install_services`); then sshd, nginx, PostgreSQL and its
page, DNS/mail/Samba in the namespace lab, and the sync runner (`atlas-ha daemon run`), each
started through lab/host.py (by PID, never with the caller's stdout or stderr).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from atlas_ha.converters import postgresql
from atlas_ha.lab import dbpage, dns_mail, host, pages, postgres, samba, services, smtp_sink
from atlas_ha.lab.keys import sshd_config
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.esd import server_ssh_dir
from atlas_ha.verifier.services import alert_rules_file

if TYPE_CHECKING:
    from atlas_ha.lab.lab import Lab

PRI_DATA = "client data on the PRI's disk"  # the page of the PRI's disk (what clients get)
SSHD = "/usr/sbin/sshd"
# the lab's cycles come from its interval and `lab cycle` (tests count and time them): its
# daemons start no change-triggered SyncCycles (daemon/watch.py), whose kept connections
# would also outlive a test's partitions
NO_WATCH = "\n[daemon]\nwatch = false  # the lab: cycles by interval and `lab cycle` only\n"
CYCLE_INTERVAL = 300.0  # the lab's sync runner: seconds between SyncCycles on the PRI


def install_services(lab: Lab, envs: dict[str, int], roles: dict[str, str], sink: bool) -> None:
    """Each server's status page settings, client data, PostgreSQL cluster, nginx.conf and
    disk mount; the PRI's services file and (`sink`) the alert rules mailing the sink."""
    digest = pages.write_auth(lab.report_auth_file)
    loopback = lab.mode.name == "loopback"
    for name, sim in lab.group.servers.items():
        with sim.config.open("a") as settings:  # its status page, behind the token
            settings.write(pages.section(lab.page_listen(name), digest))
            settings.write(NO_WATCH)
        services.client_data(
            lab.base / "disks" / f"disk-{name}",
            PRI_DATA if roles[name] == "PRI" else f"skeleton of the {roles[name]} disk",
        )
        if postgres.available():
            postgres.init_cluster(
                lab.runner,
                lab.base / "disks" / f"disk-{name}",
                str(lab.net.subnet),
                client_data=roles[name] == "PRI",
            )
        write_nginx(lab, name, None)
        if loopback:
            services.loop_docroot_link(sim.root, sim.base / "unbound")
        else:
            services.mirror_mount(sim.root, lab.mountpoint, sim.base / "unbound")
        extra = ""
        if not loopback and dns_mail.available():
            dns_mail.write_hosts(sim.root, lab.addresses["PRI"])
            pri = lab.addresses["PRI"]
            extra = dns_mail.services(pri) + samba.services() + dbpage.services()
        if roles[name] == "PRI":  # synced to the SECs by the first cycle
            services.write_verifier_files(sim.root, extra)
            if sink:  # the alert rules: mail to the sink on the client host
                rules = smtp_sink.rules(lab.mode.client[1], lab.mode.sink_port)
                atomic_write(alert_rules_file(sim.root), rules)
        # nginx reloads by the services file, PostgreSQL by this hook (its config's place)
        if postgres.available():
            reload = " ".join(postgres.reload_argv(pgdata(lab, name)))
            with sim.config.open("a") as settings:
                settings.write(f'\n[hooks]\nafter_install = ["{reload}"]\n')


def start_daemon(lab: Lab, name: str, anchor: int | None) -> None:
    """The sync runner (`atlas-ha daemon run`): SyncCycles on the PRI every interval."""
    sim, info = lab.group.servers[name], lab.servers()[name]
    interval = float(lab.state.get("cycle_interval", CYCLE_INTERVAL))
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(sim.config), "daemon", "run"]
    info["daemon_pid"] = host.spawn(
        anchor,
        [*argv, "--interval", f"{interval:g}"],
        sim.base / "daemon.log",
        ready=b"started;",
        what=f"the sync runner on {name}",
    )


def pgdata(lab: Lab, name: str) -> Path:
    """The cluster on the server's plugged disk, as the server sees it."""
    if lab.mode.name == "loopback":  # no mount namespace: the server's own link to its disk
        return lab.group.servers[name].base / "unbound" / "pgdata"
    return lab.mountpoint / "pgdata"


def write_nginx(lab: Lab, name: str, address: str | None) -> Path:
    """The main nginx.conf (Bound Data): in loopback mode it holds the listen address."""
    sim = lab.group.servers[name]
    fmt = sim.server(lambda _l: None).envs[sim.env].formats["nginx"]
    listen = f"{address}:{lab.mode.http_port}" if address else None
    return services.write_nginx(sim.root, sim.base / "run", fmt, listen)


def nginx_argv(lab: Lab, name: str, conf: Path, *extra: str) -> list[str]:
    sim = lab.group.servers[name]
    # loopback: relative document roots resolve against the configuration directory,
    # where `unbound` links to the plugged disk (as the Verifier's SetUp resolves them)
    loopback = lab.mode.name == "loopback"
    prefix = sim.root / "etc" / "nginx" if loopback else sim.base / "run"
    return services.nginx_argv(prefix, sim.base / "run", conf, *extra)


def start_services(lab: Lab, name: str, anchor: int | None, address: str) -> None:
    """nginx and PostgreSQL (and its page), DNS/mail/Samba in the namespace lab."""
    sim, info = lab.group.servers[name], lab.servers()[name]
    run = sim.base / "run"
    loopback = lab.mode.name == "loopback"
    if not loopback and dns_mail.available():
        info.update(dns_mail.start(anchor, sim.root, run, address))
        if samba.available():
            info["smbd_pid"] = samba.start(anchor, sim.root, run, address, lab.mountpoint)
    conf = write_nginx(lab, name, address if loopback else None)
    info["nginx_pid"] = host.spawn(
        anchor,
        nginx_argv(lab, name, conf, "-g", "daemon off;"),
        run / "nginx.log",
        what=f"nginx on {name}",
    )
    if postgres.available():
        server = sim.server(lambda _l: None)
        fmt = server.envs[server.env_id].formats["postgresql"]
        conf_dir = sim.file(postgresql.conf_dir(fmt))
        listen = (address, lab.mode.pg_port) if loopback else None
        argv = postgres.postmaster_argv(pgdata(lab, name), conf_dir, run / "pg", listen)
        info["postgres_pid"] = host.spawn(
            anchor,
            argv,
            run / "postgres.log",
            ready=b"ready to accept connections",
            what=f"PostgreSQL on {name}",
        )
        if not loopback:  # the page from the database, behind nginx
            info["dbpage_pid"] = dbpage.start(anchor, sim.root, run, address)


def start_sshd(lab: Lab, name: str, address: str, anchor: int | None) -> int:
    sim = lab.group.servers[name]
    disk = lab.group.disk_of(name)
    assert disk is not None
    host_key = lab.group.host_key(disk)
    config = server_ssh_dir(sim.base / "esd") / "sshd_config"
    atomic_write(config, sshd_config(sim, address, lab.mode.ssh_port, host_key))
    if os.geteuid() == 0:  # privilege separation directory (an unprivileged sshd has none)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    return host.spawn(
        anchor,
        [SSHD, "-D", "-e", "-f", str(config)],
        sim.base / "sshd.log",
        ready=b"Server listening",
        what=f"sshd on {name}",
    )
