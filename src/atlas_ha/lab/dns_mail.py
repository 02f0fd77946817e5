"""DNS (dnsmasq) and mail (msmtpd) on every lab server, so the Verifier's dns and smtp kinds
meet real services in the lab too (namespace lab only: ports 53 and 25 need root).

dnsmasq answers from a hosts file that is synced (SyncFilePathsSvcdnsconfigs, from the
services file's `configs`), `/etc/dnsmasq.d/acme.hosts` of each system root; a SEC reloads it
with SIGHUP after an Install changed it. msmtpd accepts mail for the verifier's test message
and discards it.
"""

from __future__ import annotations

from pathlib import Path

from atlas_ha.layout.atomic import atomic_write

DNSMASQ = Path("/usr/sbin/dnsmasq")
MSMTPD = Path("/usr/bin/msmtpd")
HOSTS = "/etc/dnsmasq.d/acme.hosts"
RECORD = "www.acme.lan"


def available() -> bool:
    return DNSMASQ.exists() and MSMTPD.exists()


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


def services(pri_address: str) -> str:
    """The namespace lab's further services (dns, mail, tcp, a Nagios plugin, health)."""
    return SERVICES % {"pri": pri_address}
