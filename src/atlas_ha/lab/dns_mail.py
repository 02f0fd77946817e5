"""DNS (dnsmasq), mail (msmtpd) and time (chronyd) on every lab server, so the Verifier's
dns, smtp and ntp kinds meet real services in the lab too (namespace lab only: ports 53, 25
and 123 need root).

dnsmasq answers from a hosts file that is synced (SyncFilePathsSvcdnsconfigs, from the
services file's `configs`), `/etc/dnsmasq.d/acme.hosts` of each system root; a SEC reloads it
with SIGHUP after an Install changed it. msmtpd accepts mail for the verifier's test message
and discards it.

chronyd reads the synced chrony configuration of its environment (/etc/chrony/chrony.conf
or /etc/chrony.conf of the system root: every server asks the PRI's address, the PRI serves
its own clock at stratum 8), included by a lab file in the server's run directory that then
names that server's own PID and drift files (Bound Data: the last of a directive wins). It
never sets the system clock (-x); no NTP packet leaves the lab's namespaces. A loop restarts
it when it exits, which is the reload (chronyd rereads its configuration only on start):
the services file's reload stops it by its PID file.
"""

from __future__ import annotations

from pathlib import Path

from atlas_ha.converters import chrony
from atlas_ha.lab import host
from atlas_ha.layout.atomic import atomic_write

DNSMASQ = Path("/usr/sbin/dnsmasq")
MSMTPD = Path("/usr/bin/msmtpd")
CHRONYD = Path("/usr/sbin/chronyd")
HOSTS = "/etc/dnsmasq.d/acme.hosts"
CHRONY_LAB_CONF = "chrony.conf"  # in the server's run directory
RECORD = "www.acme.lan"


def available() -> bool:
    return DNSMASQ.exists() and MSMTPD.exists()


def start(anchor: int | None, root: Path, run: Path, address: str) -> dict[str, int]:
    """Start dnsmasq, msmtpd and (when installed) chronyd in the server's namespaces."""
    pids = {
        "dnsmasq_pid": host.spawn(
            anchor, dnsmasq_argv(root, run, address), run / "dnsmasq.log", what="dnsmasq"
        ),
        "msmtpd_pid": host.spawn(anchor, msmtpd_argv(address), run / "msmtpd.log", what="msmtpd"),
    }
    if CHRONYD.exists():
        pids["chronyd_pid"] = host.spawn(
            anchor, chronyd_argv(root, run), run / "chronyd.log", what="chronyd"
        )
    return pids


def chronyd_argv(root: Path, run: Path) -> list[str]:
    """chronyd in a restart loop, from the lab file including the synced configuration."""
    synced = next(
        (p for fmt in chrony.FORMATS if (p := root / chrony.conf_path(fmt).lstrip("/")).exists()),
        root / chrony.RHEL_CONF.lstrip("/"),
    )
    atomic_write(
        run / CHRONY_LAB_CONF,
        f"include {synced}\n# this server's own files (the last of a directive wins)\n"
        f"cmdport 0\npidfile {run / 'chronyd.pid'}\ndriftfile {run / 'chrony.drift'}\n",
    )
    daemon = [str(CHRONYD), "-d", "-x", "-u", "root", "-f", str(run / CHRONY_LAB_CONF)]
    return ["sh", "-c", 'while :; do "$@"; sleep 0.5; done', "chronyd-loop", *daemon]


def write_hosts(root: Path, pri_address: str) -> None:
    """The zone as the OS installs it (every server; the PRI's copy is synced)."""
    atomic_write(root / HOSTS.lstrip("/"), f"{pri_address} {RECORD}\n")


def dnsmasq_argv(root: Path, run: Path, address: str) -> list[str]:
    return [
        str(DNSMASQ),
        "--keep-in-foreground",
        "--log-facility=-",
        "--conf-file=/dev/null",
        f"--listen-address={address}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        f"--addn-hosts={root / HOSTS.lstrip('/')}",
        f"--pid-file={run / 'dnsmasq.pid'}",
        "--user=root",
    ]


def msmtpd_argv(address: str) -> list[str]:
    # msmtpd appends the recipients to the command: `sh -c` takes them as $0, $1, ...
    return [str(MSMTPD), f"--interface={address}", "--port=25", "--command=sh -c 'cat >/dev/null'"]


SERVICES = f"""
[service.dns]
kind = "dns"
configs = ["/etc/dnsmasq.d"]
reload = ["sh", "-c", "kill -HUP $(cat {{root}}/../run/dnsmasq.pid)"]
[service.dns.options]
name = "{RECORD}"
expected = ["%(pri)s"]

[service.mail]
kind = "smtp"
[service.mail.options]
recipient = "postmaster@acme.lan"

[service.sshport]
kind = "tcp"
[service.sshport.options]
port = 22
expect = "SSH-2.0-"

[service.web-plugin]
kind = "nagios"
[service.web-plugin.options]
command = ["check_http", "-H", "{{address}}", "-u", "/", "-s", "ACME office"]

[service.host]
kind = "health"
[service.host.thresholds]
load = [50, 100]                   # a shared test machine: load is not the point here
"""


TIME = """
[service.time]
kind = "ntp"
validate = ["%(chronyd)s", "-p", "-f", "{root}/../run/%(conf)s"]
reload = ["sh", "-c", "kill $(cat {root}/../run/chronyd.pid)"]
[service.time.options]
servers = ["%(pri)s"]                  # the upstream every server's chrony.conf names
"""


def services(pri_address: str) -> str:
    """The namespace lab's further services (dns, mail, tcp, a Nagios plugin, health, and
    time when chrony is installed)."""
    values = {"pri": pri_address, "chronyd": CHRONYD, "conf": CHRONY_LAB_CONF}
    return SERVICES % values + (TIME % values if CHRONYD.exists() else "")
