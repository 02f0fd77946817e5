"""`atlas-ha services detect`: propose service definitions for what is installed (SPEC 6).

Looks in the system root for the programs of well-known services and proposes a
`[service.NAME]` table for each, with its kind, install location and the config files that
exist; plus this server's health and the connectivity between the servers. The result is TOML
to review and paste into the services file.
"""

from __future__ import annotations

import json
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


CANDIDATES = (
    Candidate(
        "web",
        "http",
        ("/usr/sbin/nginx",),
        ("/etc/nginx/sites-enabled", "/etc/nginx/conf.d"),
        ("/usr/sbin/nginx", "-s", "reload"),
        "nginx",
    ),
    Candidate(
        "database",
        "postgresql",
        ("/usr/lib/postgresql/*/bin/postgres",),
        ("/etc/postgresql",),
        what="PostgreSQL",
    ),
    Candidate(
        "ssh",
        "ssh",
        ("/usr/sbin/sshd",),
        ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d"),
        what="OpenSSH server",
    ),
    Candidate(
        "dns",
        "dns",
        ("/usr/sbin/dnsmasq",),
        ("/etc/dnsmasq.conf", "/etc/dnsmasq.d"),
        what="dnsmasq",
    ),
    Candidate("mail", "smtp", ("/usr/sbin/postfix",), ("/etc/postfix",), what="Postfix"),
    Candidate("mail", "smtp", ("/usr/sbin/exim4",), ("/etc/exim4",), what="Exim"),
    Candidate("mail", "smtp", ("/usr/sbin/smtpd",), ("/etc/smtpd.conf",), what="OpenSMTPD"),
)


@dataclass
class Proposal:
    name: str
    kind: str
    what: str
    install: str | None = None
    configs: list[str] = field(default_factory=list)
    reload: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "what": self.what}
        if self.install:
            data["install"] = self.install
        if self.configs:
            data["configs"] = self.configs
        if self.reload:
            data["reload"] = self.reload
        if self.note:
            data["note"] = self.note
        return data


def detect(system_root: Path, installed_kinds: set[str]) -> list[Proposal]:
    """A proposal for each recognised service in `system_root`, plus health and network."""
    found: list[Proposal] = []
    for cand in CANDIDATES:
        install = _first_existing(system_root, cand.programs)
        if install is None or any(p.name == cand.name for p in found):
            continue
        configs = [c for c in cand.configs if (system_root / c.lstrip("/")).exists()]
        found.append(Proposal(cand.name, cand.kind, cand.what, install, configs, list(cand.reload)))
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
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)
