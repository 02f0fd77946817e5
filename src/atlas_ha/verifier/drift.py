"""Environment drift (issue 13 item 4): what this server's EnvVersion is, recorded, and compared.

The fingerprint of this server's EnvID, kept in envs.toml (`[env.N.fingerprint]`,
layout/esd.py), holds:

    "os"                 PRETTY_NAME of the system root's etc/os-release (or usr/lib/os-release)
    "format <aspect>"    the formats of that aspect whose files the system root holds (the
                         markers the converters rely on: nginx conf.d or sites-enabled, ...)
    "service <name>"     the version of each declared service: its `version` command, else its
                         `package` (dpkg-query, or rpm, on the system root's database), else
                         `<install> --version` of the program in the system root

`atlas-ha init` and `atlas-ha env record` write it; the sentry compares the live system with
it every round (`drift`): a value that changed is a WARNING naming it, until the operator
defines Env<N+1> with its converter, or confirms that nothing relevant changed
(`atlas-ha env confirm`: the new fingerprint recorded, and a commit in the history naming
what was confirmed). A value the fingerprint lacks (a service declared since) is only noted.
Version programs run with the settings' `checker_path` as PATH.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.converters.aspects import aspects
from atlas_ha.errors import AtlasError, ServerStateError
from atlas_ha.sync.init import InitReport, InitRequest, init, init_and_check
from atlas_ha.system import Runner
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.services import ServiceDef

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")


@dataclass
class Drift:
    env: int
    recorded: bool  # a fingerprint was recorded at all
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (what, then, now)
    unrecorded: list[str] = field(default_factory=list)  # live values the fingerprint lacks

    def lines(self) -> list[str]:
        return [f"{what}: {then!r} -> {now!r}" for what, then, now in self.changed]


def os_release(root: Path) -> str:
    for name in OS_RELEASE:
        try:
            text = (root / name).read_text(errors="replace")
        except FileNotFoundError:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip("\"'")
        pretty = values.get("PRETTY_NAME") or " ".join(
            v for v in (values.get("NAME"), values.get("VERSION_ID")) if v
        )
        return pretty or f"unknown ({name} names no release)"
    return "unknown (no etc/os-release)"


def format_markers(server: Server) -> dict[str, str]:
    """For each aspect of this EnvID: the formats whose files are all in the system root."""
    root = server.settings.system_root
    env = server.envs[server.env_id]
    found: dict[str, str] = {}
    for name, aspect in sorted(aspects().items()):
        if name not in env.formats:
            continue
        present = [
            fmt
            for fmt in aspect.formats
            if (paths := aspect.paths(fmt, env.device))
            and all((root / p.lstrip("/")).exists() for p in paths)
        ]
        found[f"format {name}"] = ", ".join(present) or "none of " + ", ".join(aspect.formats)
    return found


def version_argv(server: Server, service: ServiceDef) -> list[str] | None:
    """The command printing the service's version (None: nothing tells it)."""
    root = server.settings.system_root
    if service.version:
        return service.version_argv(root)
    if service.package:
        if (root / "var/lib/dpkg/status").exists() and shutil.which("dpkg-query"):
            admin = f"--admindir={root / 'var/lib/dpkg'}"
            return ["dpkg-query", admin, "-W", "-f=${Version}", service.package]
        if (root / "var/lib/rpm").is_dir() and shutil.which("rpm"):
            return [
                "rpm",
                "--root",
                str(root),
                "-q",
                "--qf",
                "%{VERSION}-%{RELEASE}",
                service.package,
            ]
    if service.install and (root / service.install.lstrip("/")).exists():
        return [str(root / service.install.lstrip("/")), "--version"]
    return None


def service_version(server: Server, service: ServiceDef) -> str | None:
    argv = version_argv(server, service)
    if argv is None:
        return None
    try:
        done = server.runner.run(
            argv, env=server.settings.checker_env(), timeout=service.timeout, check=False
        )
    except AtlasError as exc:
        return f"unknown ({exc})"
    lines = [ln.strip() for ln in f"{done.stdout}\n{done.stderr}".splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if done.returncode != 0:
        return f"unknown ({argv[0]}: exit {done.returncode}: {first})"
    return first or f"unknown ({argv[0]} printed nothing)"


def fingerprint(server: Server) -> dict[str, str]:
    """The live fingerprint of this server's EnvID."""
    found = {"os": os_release(server.settings.system_root), **format_markers(server)}
    for service in services_mod.load(server.settings.system_root):
        version = service_version(server, service)
        if version is not None:
            found[f"service {service.name}"] = version
    return found


def record(server: Server) -> dict[str, str]:
    """Record the live fingerprint of this server's EnvID in envs.toml."""
    live = fingerprint(server)
    server.esd.write_fingerprint(server.env_id, live)
    return live


def drift(server: Server) -> Drift:
    """The live system against the fingerprint recorded for this server's EnvID."""
    env = server.env_id
    recorded = server.envs[env].fingerprint
    live = fingerprint(server)
    result = Drift(env, bool(recorded))
    for what in sorted(live):
        if what not in recorded:
            result.unrecorded.append(what)
        elif recorded[what] != live[what]:
            result.changed.append((what, recorded[what], live[what]))
    return result


def confirm(server: Server) -> tuple[list[str], str | None]:
    """The operator confirms that nothing relevant changed: the live fingerprint is recorded
    and the confirmation is a commit in the history naming what changed. Returns (what was
    confirmed, the commit); nothing to confirm leaves everything as it was."""
    found = drift(server)
    if not found.changed and found.recorded and not found.unrecorded:
        return [], None
    confirmed = found.lines() + [f"{what}: newly recorded" for what in found.unrecorded]
    try:
        role = server.role()
    except AtlasError:
        role = "-"
    record(server)
    commit = server.history.note(
        "env-confirm",
        role,
        found.env,
        {"Atlas-Confirmed": "; ".join(confirmed) or "the first fingerprint"},
    )
    server.log(f"env confirm Env{found.env}: {'; '.join(confirmed)}")
    return confirmed, commit


def init_and_record(
    request: InitRequest, runner: Runner, server: Server, check: bool = False
) -> InitReport:
    """`atlas-ha init` (sync/init.py; with `check`, also its test conversions and next
    steps), then the fingerprint of the new EnvID."""
    if check:
        report = init_and_check(request, runner)
    else:
        report = InitReport(init(request, runner), [], [], [])
    try:
        record(server)
    except (AtlasError, OSError) as exc:  # init is done; the fingerprint can be recorded later
        raise ServerStateError(
            f"set up, but the fingerprint of Env{request.env} could not be recorded ({exc}): "
            "run `atlas-ha env record`"
        ) from exc
    report.done.append(f"fingerprint of Env{request.env} in {server.esd.envs_file}")
    return report
