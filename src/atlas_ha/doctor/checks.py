"""`atlas-ha doctor`: one line per check of this server and its partners, each failing one
naming its fix; green (`Report.ok`) only when a first SyncCycle would work.

Checks, in order (a check that cannot run because an earlier one failed is not run):
settings; the system root, ESD_DATA and SID_DATA (owners, modes, and with the ssh transport
every parent directory, which sshd's StrictModes requires of an authorized_keys file); the
identity and account files parse; the test conversion (sync/preflight.py) to every older
EnvVersion (every Create is followed by ConvertToOlder) and up to the newest EnvVersion a
partner answered with (its ConvertToNewer of this server's snapshot; the newer definitions are
the group's, recorded by `init` in ESD_DATA/envs-newer.toml); with ssh: the
role's client and host keys, known_hosts and authorized_keys lines of every partner role, the
forced command each line names (run here as sshd would, under the drop-in's PATH and
ATLAS_HA_CONFIG: it must start and refuse for want of an ssh client, nothing else); the hello
to each partner (the transport of the settings; all partners at once, bounded by one timeout:
doctor/hellos.py); rsync, git and ssh and their versions; the
services file and each service's reload program. Nothing is written.

`init` runs it offline (no hello: the partners are not joined yet) and prints it; the
daemon runs it before it starts and logs each failing line (it does not refuse: see
daemon/loop.py callers, docs/install.md).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.converters import accounts, identity
from atlas_ha.doctor.hellos import hello_all
from atlas_ha.errors import AtlasError, RefusedError
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout import policy
from atlas_ha.layout.esd import server_known_hosts
from atlas_ha.layout.sid import SidData, role_authorized_keys, role_host_key, role_key_file
from atlas_ha.settings import Settings, load
from atlas_ha.sync import preflight
from atlas_ha.sync.init import InitReport, InitRequest
from atlas_ha.sync.join import Joined, accept
from atlas_ha.system import console_script
from atlas_ha.transport.hostkeys import known_roles
from atlas_ha.transport.rolekeys import line_options_and_key, line_role
from atlas_ha.transport.sshd_dropin import DROPIN_DIR, DROPIN_NAME, SSHD_PATH, sshd_dropin
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.drift import init_and_record

OK, FAIL, SKIP = "ok", "FAIL", "skip"
COMMAND_RE = re.compile(r'(?:^|,)command="([^"]*)"')
# seconds the hellos may take, all partners together (they are sent at once); at the daemon's
# start less, so that partners down at boot delay it by a few seconds at most
HELLO_TIMEOUT = 15.0
DROPIN_HEADER = "# atlas-ha: written by `atlas-ha keys sshd-config`"
START_HELLO_TIMEOUT = 4.0
TOOLS = (("rsync", ["rsync", "--version"]), ("git", ["git", "--version"]), ("ssh", ["ssh", "-V"]))


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, FAIL, skip
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if self.status == FAIL and self.fix else "")


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]


def doctor(
    config: Path,
    online: bool = True,
    hello_timeout: float = HELLO_TIMEOUT,
    dropin_dir: Path = DROPIN_DIR,
) -> Report:
    """Every check of the server whose settings are `config` (`online`: also the hello to
    each partner, all at once, each given `hello_timeout` seconds; `dropin_dir`: where
    sshd's drop-ins are)."""
    report = Report()
    try:
        settings = load(config)
    except AtlasError as exc:
        report.checks.append(
            Check("settings", FAIL, str(exc), f"write them with `atlas-ha init` or fix {config}")
        )
        return report
    report.checks.append(Check("settings", OK, str(config)))
    server = Server(settings)
    report.checks += _directories(settings)
    if any(c.status == FAIL and c.name != "sshd StrictModes" for c in report.checks):
        return report  # nothing more can be read
    try:
        server.env_id, server.master()
    except AtlasError as exc:
        report.checks.append(Check("setup", FAIL, str(exc), "run `atlas-ha init` on this server"))
        return report
    report.checks += _files(server)
    report.checks += _policy(server)
    partner_envs: dict[str, int] = {}
    ssh = settings.transport == "ssh"
    if ssh:
        report.checks += _keys(settings, server)
        report.checks += _forced_commands(settings)
        report.checks.append(_dropin(settings, dropin_dir))
    if online:
        report.checks += _hellos(server, partner_envs, hello_timeout)
    report.checks += _conversions(server, partner_envs)
    report.checks += _tools()
    report.checks += _services(settings)
    return report


def init_and_doctor(request: InitRequest, server: Server) -> tuple[InitReport, Report]:
    """`atlas-ha init`: the set-up with its test conversion (verifier/drift.py), then the
    doctor, offline (the partners are not joined yet)."""
    report = init_and_record(request, server.runner, server, check=True)
    return report, doctor(request.settings.config_file, online=False)


def join_and_doctor(server: Server, token: str) -> tuple[Joined, Report | None]:
    """`atlas-ha join TOKEN`: accept the partner's token (sync/join.py); when it was the reply
    (both sides have joined), the doctor, online."""
    joined = accept(server, token)
    if joined.reply is not None:
        return joined, None
    return joined, doctor(server.settings.config_file)


def log_doctor(config: Path, log: Callable[[str], None]) -> Report:
    """Before the daemon starts: the doctor, each failing check an ALERT line of its log. It
    does not refuse to start: the daemon performs the Role/Identity Install and runs the
    Verifier; a partner down at boot (a failing hello) must not leave this server without
    them, and the cycle retries on its own."""
    try:
        report = doctor(config, hello_timeout=START_HELLO_TIMEOUT)
    except Exception as exc:  # the preflight never keeps the daemon from starting
        log(f"ALERT doctor: internal error {type(exc).__name__}: {exc}")
        return Report()
    for check in report.failing():
        log(f"ALERT doctor: {check.name}: {check.detail}; fix: {check.fix}")
    if report.ok:
        log(f"doctor: green ({len(report.checks)} checks)")
    return report


def _mode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, stat.S_IMODE(st.st_mode)


def _directories(settings: Settings) -> Iterator[Check]:
    me = os.geteuid()
    root = settings.system_root
    if root.is_dir():
        yield Check("system root", OK, str(root))
    else:
        yield Check("system root", FAIL, f"{root}: not a directory", "set system_root in settings")
    for name, path, want in (
        ("ESD_DATA", settings.esd_data, None),
        ("SID_DATA", settings.sid_data, 0o700),
    ):
        if not path.is_dir():
            yield Check(name, FAIL, f"{path}: missing", "mount the disk, or `atlas-ha init`")
            continue
        uid, mode = _mode(path)
        if uid != me:
            yield Check(name, FAIL, f"{path}: owned by uid {uid}", f"chown {me} {path}")
        elif want is not None and mode != want:
            yield Check(
                name, FAIL, f"{path}: mode {mode:04o}, not {want:04o}", f"chmod {want:o} {path}"
            )
        elif mode & 0o022:
            yield Check(
                name, FAIL, f"{path}: mode {mode:04o}: writable by others", f"chmod go-w {path}"
            )
        else:
            yield Check(name, OK, f"{path} (uid {uid}, {mode:04o})")
    if settings.transport == "ssh":
        yield _strict_modes(settings)


def _strict_modes(settings: Settings) -> Check:
    """sshd's StrictModes: every directory above atlas-ha's authorized_keys files is owned by
    root (or the user) and writable by nobody else."""
    for top in (settings.sid_data, settings.esd_data):
        for parent in [top, *top.parents]:
            try:
                uid, mode = _mode(parent)
            except OSError:
                continue
            if uid not in (0, os.geteuid()) or mode & 0o022:
                return Check(
                    "sshd StrictModes",
                    FAIL,
                    f"{parent} (uid {uid}, {mode:04o}) is above {top}: sshd refuses its keys",
                    f"move {top} below root-owned directories no one else can write "
                    "(never /tmp or /var/tmp)",
                )
    return Check("sshd StrictModes", OK, "every parent of SID_DATA and ESD_DATA is safe")


def _read(settings: Settings, paths: tuple[str, ...]) -> dict[str, bytes]:
    found = {}
    for path in paths:
        target = settings.system_root / path.lstrip("/")
        if target.is_file():
            found[path] = target.read_bytes()
    return found


def _files(server: Server) -> Iterator[Check]:
    env = server.envs[server.env_id]
    for name, parse in (("identity", identity.parse), ("accounts", accounts.check)):
        fmt = env.formats.get(name)
        if fmt is None:
            continue
        paths = identity.paths(fmt, env.device) if name == "identity" else accounts.paths(fmt)
        try:
            parse(fmt, _read(server.settings, paths))
        except AtlasError as exc:
            yield Check(f"{name} files", FAIL, str(exc), f"fix the file named ({fmt} format)")
            continue
        yield Check(f"{name} files", OK, f"{fmt}: {', '.join(paths)}")


def _policy(server: Server) -> Iterator[Check]:
    """The receive policy's mode rules (layout/policy.py) on the files the first Create
    takes: a partner refuses a snapshot holding a shadow-class file looser than 0640, or a
    setuid or world-writable file (with the default [receive] actions)."""
    settings = server.settings
    master = server.master()
    area = SidData(settings.sid_data).area(master.role, server.env_id)
    listed: list[str] = []
    for name in ("IdentFilePaths", "SyncFilePathsSpecial", "SyncFilePaths"):
        if (area.path / name).is_file():
            listed += paths_mod.read(area.path / name)
    shadow = set(settings.receive.shadow_paths)
    bad = []
    for path in sorted(set(listed)):
        target = settings.system_root / path.lstrip("/")
        try:
            st = target.lstat()
        except OSError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            continue
        if path in shadow and mode & ~policy.SHADOW_FILE_MODE:
            if settings.receive.action("shadow_mode") == "refuse":
                bad.append((target, f"mode {mode:04o}, looser than 0640", f"chmod 640 {target}"))
        elif mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH):
            bad.append((target, f"mode {mode:04o} (setuid or world-writable)", f"chmod {target}"))
    if not bad:
        yield Check("receive policy", OK, f"{len(set(listed))} listed paths: modes accepted")
    for target, detail, fix in bad:
        yield Check("receive policy", FAIL, f"{target}: {detail}: partners refuse it", fix)


def _conversions(server: Server, partner_envs: dict[str, int]) -> Iterator[Check]:
    """Every older EnvVersion (each Create is followed by ConvertToOlder down to Env1), and
    every newer one up to the newest a partner uses (that partner's ConvertToNewer of this
    server's snapshot), with the group's newer definitions `init` recorded."""
    for result in preflight.test_convert(server):
        yield _conversion_check(result)
    upto = max(partner_envs.values(), default=0)
    if upto <= server.env_id:
        return
    newer = server.esd.newer_envs()
    unknown = [v for v in range(server.env_id + 1, upto + 1) if v not in newer]
    if unknown:
        where = server.esd.newer_envs_file
        yield Check(
            f"test conversion to Env{upto}",
            SKIP,
            f"a partner uses Env{upto}; Env{', Env'.join(map(str, unknown))} not described in "
            f"{where} (`atlas-ha init --envs FILE` with the group's envs.toml records it)",
        )
        return
    for result in preflight.test_convert_newer(server, newer, upto):
        yield _conversion_check(result)


def _conversion_check(result: preflight.TestConversion) -> Check:
    name = f"test conversion to Env{result.env}"
    if result.problem is None:
        return Check(name, OK, "this server's files convert")
    return Check(name, FAIL, result.problem, "see docs/converters.md; fix the file named")


def _keys(settings: Settings, server: Server) -> Iterator[Check]:
    sid = settings.sid_data
    master = server.master()
    join = "run `atlas-ha join` (docs/install.md, section 4)"
    key = role_key_file(sid)
    if key.is_file():
        yield Check("role key", OK, str(key))
    else:
        yield Check(
            "role key", FAIL, f"{key}: missing", "`atlas-ha keys generate` (or " + join + ")"
        )
    host = role_host_key(sid)
    if host.is_file():
        yield Check("role host key", OK, str(host))
    else:
        yield Check("role host key", FAIL, f"{host}: missing", "`atlas-ha keys host-key`")
    try:
        known = known_roles(settings)
    except AtlasError as exc:
        known = {}
        yield Check("known_hosts", FAIL, str(exc), f"remove the line named; {join}")
    missing = sorted(set(master.partners) - set(known))
    where = server_known_hosts(settings.esd_data)
    if missing:
        yield Check("known_hosts", FAIL, f"{where}: no host key of {', '.join(missing)}", join)
    else:
        yield Check("known_hosts", OK, f"{where}: {', '.join(sorted(master.partners))}")
    path = role_authorized_keys(sid)
    lines = path.read_text().splitlines() if path.is_file() else []
    roles = {line_role(line) for line in lines}
    missing = sorted(set(master.partners) - roles)
    if missing:
        yield Check("authorized_keys", FAIL, f"{path}: no line of {', '.join(missing)}", join)
    else:
        yield Check("authorized_keys", OK, f"{path}: {', '.join(sorted(master.partners))}")


def sshd_environment(settings: Settings) -> dict[str, str]:
    """The environment the drop-in gives a forced command (transport/sshd_dropin.py)."""
    program = console_script()
    path = [*([str(program.parent)] if str(program.parent) not in SSHD_PATH else []), *SSHD_PATH]
    env = {"PATH": ":".join(path), "ATLAS_HA_CONFIG": str(settings.config_file)}
    return {**{k: v for k, v in os.environ.items() if k in ("LANG", "HOME")}, **env}


def _forced_commands(settings: Settings) -> Iterator[Check]:
    path = role_authorized_keys(settings.sid_data)
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        role = line_role(line)
        match = COMMAND_RE.search(line_options_and_key(line)[0])
        if role is None or match is None:
            continue
        argv = shlex.split(match.group(1))
        name = f"forced command of {role}"
        fix = "install atlas-ha on sshd's PATH and run `atlas-ha keys sshd-config --write`"
        try:
            done = subprocess.run(
                argv,
                env=sshd_environment(settings),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except OSError as exc:
            yield Check(name, FAIL, f"{match.group(1)}: {exc.strerror}", fix)
            continue
        said = done.stderr.strip().splitlines()[-1:] or [""]
        if done.returncode == RefusedError.exit_code and "no SSH_CLIENT" in said[0]:
            yield Check(name, OK, f"{match.group(1)} starts (and refuses outside ssh)")
        else:
            yield Check(name, FAIL, f"{match.group(1)}: exit {done.returncode}: {said[0]}", fix)


def _dropin(settings: Settings, directory: Path) -> Check:
    """atlas-ha's sshd drop-in is what `keys sshd-config` writes now: after the first
    `version use` (its PATH then starts with ESD_DATA/bin/current/bin) or a new role host
    key, one written before is stale, and partners' forced commands would run the old
    program. A drop-in atlas-ha did not write (no header of its own) is left alone."""
    path = directory / DROPIN_NAME
    name = "sshd drop-in"
    write = f"atlas-ha keys sshd-config --write {directory} and reload sshd"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Check(name, SKIP, f"{path}: none (sshd reads atlas-ha's keys only with it: {write})")
    except (OSError, UnicodeDecodeError) as exc:
        return Check(name, FAIL, f"{path}: unreadable ({exc})", f"remove it, then {write}")
    if not text.startswith(DROPIN_HEADER):
        return Check(name, SKIP, f"{path}: not written by atlas-ha (left alone)")
    if text != sshd_dropin(settings):
        return Check(
            name,
            FAIL,
            f"{path} is not what `atlas-ha keys sshd-config` writes now (written before the "
            "first `version use` or before the role's host key?)",
            write,
        )
    return Check(name, OK, f"{path}: current")


def _hellos(server: Server, partner_envs: dict[str, int], timeout: float) -> Iterator[Check]:
    fix = (
        "run `atlas-ha join` on both servers; on the partner `atlas-ha keys "
        "sshd-config --write` and reload sshd; run `atlas-ha doctor` there"
    )
    for hello in hello_all(server, timeout):
        name = f"hello to {hello.role} at {hello.partner.address}"
        if hello.answer is None:
            yield Check(name, FAIL, hello.problem(), fix)
        else:
            partner_envs[hello.role] = hello.answer.env
            yield Check(name, OK, f"{hello.answer.role}, Env{hello.answer.env}")


def _tools() -> Iterator[Check]:
    for name, argv in TOOLS:
        if shutil.which(argv[0]) is None:
            yield Check(name, FAIL, "not installed", f"install {name} (docs/install.md, section 1)")
            continue
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        first = (done.stdout or done.stderr).strip().splitlines()[:1] or ["?"]
        yield Check(name, OK, first[0])


def _services(settings: Settings) -> Iterator[Check]:
    path = services_mod.services_file(settings.system_root)
    try:
        defs = services_mod.load(settings.system_root)
    except AtlasError as exc:
        yield Check("services file", FAIL, str(exc), f"fix {path} (docs/verifier.md)")
        return
    if not path.exists():
        yield Check("services file", OK, f"{path}: none (nothing to verify or reload)")
        return
    yield Check("services file", OK, f"{path}: {len(defs)} service(s)")
    for service in defs:
        argv = service.reload_argv(settings.system_root)
        if not argv:
            continue
        program = Path(argv[0])
        found = program if program.is_absolute() else Path(shutil.which(argv[0]) or argv[0])
        name = f"reload of {service.name}"
        if found.is_file() and os.access(found, os.X_OK):
            yield Check(name, OK, shlex.join(argv))
        else:
            yield Check(
                name, FAIL, f"{argv[0]}: no such program", f"install it or fix reload in {path}"
            )
