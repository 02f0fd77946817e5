"""`atlas-ha services detect`: propose service definitions for what is installed (SPEC 6).

Looks in the system root for the programs of well-known services and proposes a
`[service.NAME]` table for each, with its kind, install location and the config files that
exist, the service's own configuration checker (`validate`, run against the system root:
`{root}`) and its package (the environment fingerprint); plus, for every server, the Sentry
itself (`sentry`: daemon, last good cycle, suspension reminder, role/identity), this server's
health and the connectivity between the servers. The result is TOML to review and paste into
the services file.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    programs: tuple[str, ...]  # the first that exists is the install location (globs allowed)
    configs: tuple[str, ...] = ()  # proposed when they exist
    reload: tuple[str, ...] = ()
    what: str = ""
    # {root}: the system root; {version}: from the program path; {config}: the first of
    # `configs` that is a file here (else the last: the program's compiled-in place)
    validate: tuple[str, ...] = ()
    package: str = ""


CANDIDATES = (
    Candidate(
        "web",
        "http",
        ("/usr/sbin/nginx",),
        ("/etc/nginx/sites-enabled", "/etc/nginx/conf.d"),
        ("/usr/sbin/nginx", "-s", "reload"),
        "nginx",
        ("/usr/sbin/nginx", "-t", "-q", "-c", "{root}/etc/nginx/nginx.conf"),
        "nginx",
    ),
    Candidate(
        "database",
        "postgresql",
        ("/usr/lib/postgresql/*/bin/postgres",),
        ("/etc/postgresql",),
        what="PostgreSQL",
        validate=(
            "runuser",
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/{version}/bin/postgres",
            "-C",
            "data_directory",
            "--config-file={root}/etc/postgresql/{version}/main/postgresql.conf",
        ),
        package="postgresql-{version}",
    ),
    Candidate(
        "ssh",
        "ssh",
        ("/usr/sbin/sshd",),
        ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d"),
        what="OpenSSH server",
        validate=("/usr/sbin/sshd", "-t", "-f", "{root}/etc/ssh/sshd_config"),
        package="openssh-server",
    ),
    Candidate(
        "dns",
        "dns",
        ("/usr/sbin/dnsmasq",),
        ("/etc/dnsmasq.conf", "/etc/dnsmasq.d"),
        what="dnsmasq",
        validate=("/usr/sbin/dnsmasq", "--test", "--conf-file={root}/etc/dnsmasq.conf"),
        package="dnsmasq",
    ),
    Candidate(
        "dns",
        "dns",
        ("/usr/sbin/named",),
        ("/etc/bind",),
        what="BIND",
        validate=("/usr/bin/named-checkconf", "-t", "{root}/", "/etc/bind/named.conf"),
        package="bind9",
    ),
    Candidate(
        "mail",
        "smtp",
        ("/usr/sbin/postfix",),
        ("/etc/postfix",),
        what="Postfix",
        validate=("/usr/sbin/postfix", "-c", "{root}/etc/postfix", "check"),
        package="postfix",
    ),
    Candidate("mail", "smtp", ("/usr/sbin/exim4",), ("/etc/exim4",), what="Exim"),
    Candidate(
        "mail",
        "smtp",
        ("/usr/sbin/smtpd",),
        ("/etc/smtpd.conf",),
        what="OpenSMTPD",
        validate=("/usr/sbin/smtpd", "-n", "-f", "{root}/etc/smtpd.conf"),
        package="opensmtpd",
    ),
    Candidate(
        "files",
        "smb",
        ("/usr/sbin/smbd",),
        ("/etc/samba/smb.conf",),
        what="Samba",
        validate=("/usr/bin/testparm", "-s", "{root}/etc/samba/smb.conf"),
        package="samba",
    ),
    Candidate(
        "time",
        "ntp",
        ("/usr/sbin/chronyd",),
        # Debian's layout, then RHEL's (the chrony aspect: converters/chrony.py)
        (
            "/etc/chrony/chrony.conf",
            "/etc/chrony/conf.d",
            "/etc/chrony/sources.d",
            "/etc/chrony.conf",
        ),
        what="chrony",
        validate=("/usr/sbin/chronyd", "-p", "-f", "{root}{config}"),
        package="chrony",
    ),
)
SAFE_RE = re.compile(r"[\w@%+=:,./{}-]+")
VERSION_RE = re.compile(r"/(\d+(?:\.\d+)?)/")  # /usr/lib/postgresql/15/bin/postgres


@dataclass
class Proposal:
    name: str
    kind: str
    what: str
    install: str | None = None
    configs: list[str] = field(default_factory=list)
    reload: list[str] = field(default_factory=list)
    note: str = ""
    validate: list[str] = field(default_factory=list)
    package: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "what": self.what}
        if self.install:
            data["install"] = self.install
        if self.configs:
            data["configs"] = self.configs
        if self.reload:
            data["reload"] = self.reload
        if self.validate:
            data["validate"] = command_line(self.validate)
        if self.package:
            data["package"] = self.package
        if self.note:
            data["note"] = self.note
        return data


def detect(system_root: Path, installed_kinds: set[str]) -> list[Proposal]:
    """A proposal for each recognised service in `system_root`, plus the sentry, health and
    network checks every server needs."""
    found: list[Proposal] = []
    for cand in CANDIDATES:
        install = _first_existing(system_root, cand.programs)
        if install is None or any(p.name == cand.name for p in found):
            continue
        configs = [c for c in cand.configs if (system_root / c.lstrip("/")).exists()]
        proposal = Proposal(cand.name, cand.kind, cand.what, install, configs, list(cand.reload))
        match = VERSION_RE.search(install)
        version = match.group(1) if match else ""
        config = next(
            (c for c in cand.configs if (system_root / c.lstrip("/")).is_file()),
            cand.configs[-1] if cand.configs else "",
        )
        proposal.validate = [
            part.replace("{version}", version).replace("{config}", config) for part in cand.validate
        ]
        proposal.package = (cand.package or "").replace("{version}", version)
        found.append(proposal)
    found.append(
        Proposal(
            "sentry",
            "sentry",
            "the Sentry itself: daemon alive, last good cycle, suspension reminder, role/identity",
        )
    )
    found.append(Proposal("health", "health", "this server's disks, RAID, load, memory"))
    found.append(Proposal("network", "connectivity", "partners and gateway reachable"))
    for proposal in found:
        if proposal.kind not in installed_kinds:
            proposal.note = f"no verifier of kind {proposal.kind!r} is installed here"
    return found


def _first_existing(root: Path, programs: tuple[str, ...]) -> str | None:
    for pattern in programs:
        matches = sorted(root.glob(pattern.lstrip("/")))
        if matches:
            return "/" + str(matches[-1].relative_to(root))
    return None


def render(proposals: list[Proposal]) -> str:
    """The proposals as a services file (TOML)."""
    lines = [
        "# Proposed by `atlas-ha services detect`: review, add each kind's [options]",
        "# (docs/verifier.md) and paste into /etc/atlas-ha/services.toml.",
        "[defaults]",
        "interval = 60",
        "timeout = 10",
    ]
    for p in proposals:
        lines += ["", f"# {p.what}" + (f" ({p.note})" if p.note else "")]
        lines += [f"[service.{p.name}]", f"kind = {_q(p.kind)}"]
        if p.install:
            lines.append(f"install = {_q(p.install)}")
        if p.configs:
            lines.append(f"configs = [{', '.join(_q(c) for c in p.configs)}]")
        if p.reload:
            lines.append(f"reload = [{', '.join(_q(c) for c in p.reload)}]")
        if p.validate:
            lines.append(f"validate = {_q(command_line(p.validate))}")
        if p.package:
            lines.append(f"package = {_q(p.package)}")
    return "\n".join(lines) + "\n"


def command_line(argv: list[str]) -> str:
    """`argv` as the services file's one-line command (placeholders left unquoted)."""
    return " ".join(a if SAFE_RE.fullmatch(a) else shlex.quote(a) for a in argv)


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)
