"""DNS (dnsmasq), mail (msmtpd) and time (chronyd) on every lab server, so the Verifier's
dns, smtp and ntp kinds meet real services in the lab too (namespace lab only: ports 53, 25
and 123 need root).

dnsmasq answers from a hosts file that is synced (SyncFilePathsSvcdnsconfigs, from the
services file's `configs`), `/etc/dnsmasq.d/acme.hosts` of each system root; a SEC reloads it
with SIGHUP after an Install changed it. msmtpd accepts mail for the verifier's test message
and discards it. chronyd serves its own clock at stratum 8 (`local`), never sets the
system clock (-x) and has no upstream: no NTP packet leaves the lab's namespaces. Its
configuration is the lab's, in the server's run directory (not synced: it names that
server's own PID file).
"""

from __future__ import annotations

from pathlib import Path

from atlas_ha.lab import host
from atlas_ha.layout.atomic import atomic_write

DNSMASQ = Path("/usr/sbin/dnsmasq")
MSMTPD = Path("/usr/bin/msmtpd")
CHRONYD = Path("/usr/sbin/chronyd")
HOSTS = "/etc/dnsmasq.d/acme.hosts"
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
            anchor, chronyd_argv(run), run / "chronyd.log", what="chronyd"
        )
    return pids


def chronyd_argv(run: Path) -> list[str]:
    conf = run / "chrony.conf"
    atomic_write(
        conf,
        "# the lab's time server: its own clock, no upstream, the system clock untouched\n"
        f"local stratum 8\nallow\ncmdport 0\npidfile {run / 'chronyd.pid'}\n"
        f"driftfile {run / 'chrony.drift'}\n",
    )
    return [str(CHRONYD), "-d", "-x", "-u", "root", "-f", str(conf)]


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
"""


def services(pri_address: str) -> str:
    """The namespace lab's further services (dns, mail, tcp, a Nagios plugin, health, and
    time when chrony is installed)."""
    return SERVICES % {"pri": pri_address} + (TIME if CHRONYD.exists() else "")
