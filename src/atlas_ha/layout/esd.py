"""ESD_DATA (EnvSpecific Data) on the Bound Data: EnvID and envs.toml.

envs.toml describes every EnvVersion up to EnvID (and nothing newer)::

    [env.1]
    description = "RHEL-like"
    identity = "rhel-ifcfg"        # format of the identity files
    accounts = "passwd-hash"       # format of the local accounts
    nginx = "conf.d"               # where nginx sites live
    postgresql = "pgdata"          # where the PostgreSQL configuration lives (optional)
    device = "eth0"                # the interface the identity configures (default eth0)
    sync_paths = ["/etc/motd"]     # further SyncFilePathsSpecial of this environment (optional)
    [env.1.fingerprint]            # what this EnvVersion was on this server (verifier/drift.py;
    "os" = "Rocky Linux 9.3"       #   written by `atlas-ha init` and `atlas-ha env record|confirm`)
    "service web" = "1.22.1-1"     #   the sentry warns when the live system differs
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atlas_ha import plugins
from atlas_ha.errors import FormatError, ServerStateError
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.model import check_env, toml_line

# run logs (SPEC 7.2, ops/logs.py): <program>.<UTC timestamp>.<pid>.<origin>.log per run, or
# <program>.<YYYY-MM-DD>.<origin>.log per day; finished ones compressed to NAME.gz
LOG_NAME_RE = re.compile(
    r"^(?P<program>[a-z][a-z0-9-]*)\."
    r"(?:(?P<stamp>[0-9]{8}T[0-9]{6}Z)\.(?P<pid>[1-9][0-9]*)|(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2}))"
    r"\.(?P<origin>local|remote)\.log(?P<gz>\.gz)?$"
)
ORIGINS = ("local", "remote")
# an installed version's directory name (PEP 440 as a wheel's file name spells it)
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*([a-z0-9.!+_-]*[a-z0-9])?$", re.IGNORECASE)

# and one key per installed aspect
ENV_KEYS = {"description", "device", "sync_paths", "fingerprint"}


def installed_aspects() -> dict[str, Any]:
    """The environment aspects installed (`plugins.ASPECTS`: converters.aspects.Aspect, each
    with its `formats` and whether it is `optional`), by name: the keys of an [env.N] table."""
    loaded, disabled = plugins.load_all(plugins.ASPECTS)
    if disabled:
        raise ServerStateError("; ".join(disabled))
    return loaded


@dataclass(frozen=True)
class EnvDef:
    version: int
    description: str
    formats: dict[str, str]
    device: str = "eth0"
    sync_paths: tuple[str, ...] = field(default_factory=tuple)
    fingerprint: dict[str, str] = field(default_factory=dict)  # recorded on this server


REFERENCE = {
    1: EnvDef(
        1,
        "RHEL-like: ifcfg identity, passwd with hashes, nginx conf.d, PostgreSQL in PGDATA",
        {
            "identity": "rhel-ifcfg",
            "accounts": "passwd-hash",
            "nginx": "conf.d",
            "postgresql": "pgdata",
            "chrony": "rhel",
        },
    ),
    2: EnvDef(
        2,
        "Debian-like: interfaces identity, passwd + shadow, nginx sites-enabled, "
        "PostgreSQL in /etc/postgresql",
        {
            "identity": "debian-interfaces",
            "accounts": "shadow",
            "nginx": "sites-enabled",
            "postgresql": "debian",
            "chrony": "debian",
        },
    ),
    3: EnvDef(
        3,
        "systemd-networkd identity, passwd + shadow, nginx sites-enabled, "
        "PostgreSQL in /etc/postgresql",
        {
            "identity": "networkd",
            "accounts": "shadow",
            "nginx": "sites-enabled",
            "postgresql": "debian",
            "chrony": "debian",
        },
    ),
}


def server_known_hosts(esd_root: Path) -> Path:
    """Every role's host key under its alias atlas-<ROLE> (see `server_ssh_dir`)."""
    return server_ssh_dir(esd_root) / "known_hosts"


# sshd's compiled-in AuthorizedKeysFile (home-relative; sshd_config(5)): the sshd drop-in
# (transport/sshd_dropin.py) lists them before atlas-ha's own files
SSHD_DEFAULT_AUTHORIZED_KEYS = (".ssh/authorized_keys", ".ssh/authorized_keys2")


def server_authorized_keys(esd_root: Path) -> Path:
    """The partners' Verifier keys, each printing a fixed answer (see `server_ssh_dir`)."""
    return server_ssh_dir(esd_root) / "authorized_keys"


def server_ssh_dir(esd_root: Path) -> Path:
    """The server's own ssh files on its Bound Data: known_hosts (the role host keys under
    their aliases), the Verifier's key and the authorized_keys of partners' Verifier keys
    (which print a fixed answer only). A role's authority is not here: see
    `layout.sid.role_ssh_dir`."""
    return esd_root / "ssh"


class EsdData:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def env_id_file(self) -> Path:
        return self.root / "EnvID"

    @property
    def envs_file(self) -> Path:
        return self.root / "envs.toml"

    @property
    def newer_envs_file(self) -> Path:
        """The group's EnvVersions newer than this server's (from `init --envs FILE`, or the
        reference ones): read only by the doctor's test conversion up to a partner's newer
        EnvVersion. For everything else a server knows only its own and older (envs.toml)."""
        return self.root / "envs-newer.toml"

    def converter_program(self, env: int) -> Path:
        return self.root / "converters" / f"Env{env}"

    @property
    def current_role_file(self) -> Path:
        """The role this server took at its last Role/Identity Install (sync/identity.py)."""
        return self.root / "CurrentRole"

    @property
    def daemon_pid_file(self) -> Path:
        """The running daemon's PID (daemon/control.py; checked by the sentry verifier)."""
        return self.root / "daemon.pid"

    @property
    def logs_dir(self) -> Path:
        """Run logs (SPEC 7.2)."""
        return self.root / "logs"

    def run_log_file(self, program: str, origin: str, started: float, pid: int) -> Path:
        """The log of one run (SPEC 7.2): `<program>.<UTC timestamp>.<pid>.<origin>.log`."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
        return self._log_name(f"{program}.{stamp}.{pid}.{origin}.log")

    def daily_log_file(self, program: str, origin: str, when: float) -> Path:
        """The log of one UTC day of a program: `<program>.<YYYY-MM-DD>.<origin>.log`."""
        day = time.strftime("%Y-%m-%d", time.gmtime(when))
        return self._log_name(f"{program}.{day}.{origin}.log")

    def _log_name(self, name: str) -> Path:
        if not LOG_NAME_RE.match(name):
            raise ServerStateError(f"{name!r}: not a log name <program>.<when>.<origin>.log")
        return self.logs_dir / name

    @property
    def events_file(self) -> Path:
        """Event and alert records of this server's operations (ops/notify.py), JSON lines,
        appended; read by the alert engine once it routes them."""
        return self.root / "events.jsonl"

    @property
    def crash_store_file(self) -> Path:
        """The crash-signature store (SQLite; ops/crashstore.py)."""
        return self.root / "crashes" / "crashes.sqlite"

    @property
    def core_scan_stamp_file(self) -> Path:
        """Its mtime: when a run last scanned for new core files (ops/crash.py scan_due)."""
        return self.root / "crashes" / "core-scan.stamp"

    @property
    def web_log_file(self) -> Path:
        """The status page's server log (report/web/server.py): never the caller's terminal."""
        return self.logs_dir / "web.log"

    @property
    def owed_reloads_file(self) -> Path:
        """The after-install work (hooks, reloads) an Install on this server still owes: written
        before Install changes the system root, removed once the hooks ran (sync/install.py).
        On the Bound Data: the services it concerns are this machine's."""
        return self.root / "owed-reloads.json"

    @property
    def raid_record_file(self) -> Path:
        """The RAID rotation record: each rotate-out (member UUID, event count), rotate-in,
        check and mismatch alert, per array (raid/record.py)."""
        return self.root / "raid-rotation.json"

    @property
    def raid_lock_file(self) -> Path:
        """Held by every rotate-out, rotate-in and check: one RAID operation at a time."""
        return self.root / "raid-rotation.lock"

    @property
    def validation_file(self) -> Path:
        """The last verdict of each service's own configuration checker on this server
        (layout/validation.py): written by the Verifier before a reload (SEC) or before
        Create (PRI), read by Install (owed reloads), SyncUp (its answer) and Create."""
        return self.root / "validation.json"

    # -- side-by-side versions (SPEC 7.5, versions/): ESD_DATA/bin/<version>/ is one venv each,
    # `current` and `previous` relative symlinks to two of them
    @property
    def versions_dir(self) -> Path:
        """Installed versions of atlas-ha, side by side (versions/install.py)."""
        return self.root / "bin"

    def version_dir(self, version: str) -> Path:
        """The venv of one installed version: ESD_DATA/bin/<version>/."""
        if not VERSION_RE.match(version):
            raise ServerStateError(
                f"{version!r}: not a version name (digits and dots first, e.g. 0.2.0 or 0.2.0+test)"
            )
        return self.versions_dir / version

    @property
    def current_version_link(self) -> Path:
        """`current` -> the version that runs (the systemd units and sshd call through it)."""
        return self.versions_dir / "current"

    @property
    def previous_version_link(self) -> Path:
        """`previous` -> the version that ran before the last switch (`version rollback`)."""
        return self.versions_dir / "previous"

    @property
    def current_program(self) -> Path:
        """The stable entry point: `atlas-ha` of the current version, through the link."""
        return self.current_version_link / "bin" / "atlas-ha"

    def version_program(self, version: str) -> Path:
        return self.version_dir(version) / "bin" / "atlas-ha"

    def version_record_file(self, version: str) -> Path:
        """What was installed there: the wheel, its sha256, the dependencies, when."""
        return self.version_dir(version) / "atlas-ha-version.json"

    @property
    def version_wheelhouse(self) -> Path:
        """Wheels every install used (and the running version's dependencies, repacked), so
        a later install finds its dependencies offline."""
        return self.versions_dir / "wheelhouse"

    @property
    def versions_lock_file(self) -> Path:
        """Held by every install, use and rollback: one version operation at a time."""
        return self.versions_dir / ".versions.lock"

    def env_id(self) -> int:
        text = read_text_or_none(self.env_id_file)
        if text is None:
            raise ServerStateError(f"{self.env_id_file}: no EnvID (run `atlas-ha init`)")
        return check_env(text, self.env_id_file, 1)

    def envs(self) -> dict[int, EnvDef]:
        text = read_text_or_none(self.envs_file)
        if text is None:
            raise ServerStateError(f"{self.envs_file}: missing (run `atlas-ha init`)")
        defs = parse_envs(text, self.envs_file)
        top = self.env_id()
        missing = [v for v in range(1, top + 1) if v not in defs]
        if missing:
            raise FormatError(
                self.envs_file, None, f"[env.N] for every N in 1..EnvID={top}; missing {missing}"
            )
        newer = [v for v in defs if v > top]
        if newer:
            raise FormatError(
                self.envs_file,
                None,
                f"nothing newer than EnvID={top}; "
                f"found env {newer} (a server knows only its own and older)",
            )
        return defs

    def write_fingerprint(self, env: int, fingerprint: dict[str, str]) -> None:
        """Record what EnvVersion `env` is on this server (the rest of envs.toml kept)."""
        defs = self.envs()
        if env not in defs:
            raise FormatError(self.envs_file, None, f"[env.{env}] (this server's EnvID)")
        defs[env] = replace(defs[env], fingerprint=dict(fingerprint))
        atomic_write(self.envs_file, render_envs(defs))

    def newer_envs(self) -> dict[int, EnvDef]:
        """The EnvVersions of `newer_envs_file` above this server's EnvID (none without it)."""
        text = read_text_or_none(self.newer_envs_file)
        if text is None:
            return {}
        top = self.env_id()
        return {v: d for v, d in parse_envs(text, self.newer_envs_file).items() if v > top}

    def write(
        self, env_id: int, defs: dict[int, EnvDef], newer: dict[int, EnvDef] | None = None
    ) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "converters").mkdir(exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        atomic_write(self.envs_file, render_envs(defs))
        atomic_write(self.env_id_file, f"{env_id}\n")
        if newer:
            atomic_write(self.newer_envs_file, render_envs(newer))
        else:
            self.newer_envs_file.unlink(missing_ok=True)


def read_envs(path: Path) -> dict[int, EnvDef]:
    """A site's own envs.toml (`init --envs FILE`): its EnvVersions, checked as envs.toml is."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise FormatError(path, None, f"UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise FormatError(path, None, f"a readable envs.toml ({exc.strerror or exc})") from exc
    return parse_envs(text, path)


def parse_envs(text: str, where: Path) -> dict[int, EnvDef]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(where, toml_line(exc), f"valid TOML ({exc})") from exc
    if set(data) - {"env"} or not isinstance(data.get("env"), dict):
        raise FormatError(where, None, "only [env.N] tables")
    result: dict[int, EnvDef] = {}
    for key, table in data["env"].items():
        if key != key.strip() or not isinstance(table, dict):
            raise FormatError(where, None, f"[env.N] tables, got [env.{key!r}]")
        version = check_env(key, where)
        result[version] = _env_def(version, table, where)
    return result


def _env_def(version: int, table: dict[str, object], where: Path) -> EnvDef:
    aspects = installed_aspects()
    keys = ENV_KEYS | set(aspects)
    unknown = set(table) - keys
    if unknown:
        raise FormatError(
            where, None, f"[env.{version}]: keys {sorted(keys)}; unknown {sorted(unknown)}"
        )
    missing = [name for name, a in aspects.items() if not a.optional and name not in table]
    formats: dict[str, str] = {}
    for name in [k for k in table if k in aspects] + missing:  # in the file's order
        fmt, known = table.get(name), aspects[name].formats
        if fmt not in known:
            raise FormatError(where, None, f"[env.{version}] {name} = one of {known}, got {fmt!r}")
        formats[name] = str(fmt)
    extra = table.get("sync_paths", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
        raise FormatError(where, None, f"[env.{version}] sync_paths = a list of absolute paths")
    fingerprint = table.get("fingerprint", {})
    if not isinstance(fingerprint, dict) or not all(
        isinstance(v, str) for v in fingerprint.values()
    ):
        raise FormatError(where, None, f'[env.{version}.fingerprint]: NAME = "VALUE" strings')
    device = table.get("device", "eth0")
    if not isinstance(device, str) or not device.isalnum():
        raise FormatError(where, None, f"[env.{version}] device = an interface name like eth0")
    return EnvDef(
        version,
        str(table.get("description", "")),
        formats,
        device,
        tuple(paths_mod.normalise(p, where, None) for p in extra),
        dict(fingerprint),
    )


def render_envs(defs: dict[int, EnvDef]) -> str:
    out: list[str] = []
    for v in sorted(defs):
        d = defs[v]
        out += [f"[env.{v}]", f'description = "{d.description}"']
        out += [f'{k} = "{fmt}"' for k, fmt in d.formats.items()]
        out.append(f'device = "{d.device}"')
        if d.sync_paths:
            out.append("sync_paths = [" + ", ".join(f'"{p}"' for p in d.sync_paths) + "]")
        if d.fingerprint:
            out += ["", f"[env.{v}.fingerprint]"]
            out += [f"{json.dumps(k)} = {json.dumps(x)}" for k, x in sorted(d.fingerprint.items())]
        out.append("")
    return "\n".join(out)
