"""`atlas-ha init` (SPEC 5.12): set up a server for a new group, or a new server for a group.

Writes the settings file, EnvID and envs.toml on the Bound Data, MasterConfig and the initial
area (R, E) holding SyncFilePathsSpecial, SyncFilePaths and IdentFilePaths on the Unbound
Data. The identity stays configured in the OS; the first Create copies it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.converters.aspects import aspects
from atlas_ha.errors import ServerStateError, SettingsError
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write, write_if_changed
from atlas_ha.layout.esd import REFERENCE, EnvDef, EsdData
from atlas_ha.layout.history import History
from atlas_ha.layout.sid import SidData, role_ssh_dir
from atlas_ha.model import MasterConfig
from atlas_ha.settings import DEFAULT_PATH, Settings, render
from atlas_ha.sync import join, preflight
from atlas_ha.system import Runner


@dataclass(frozen=True)
class InitRequest:
    settings: Settings
    env: int
    master: MasterConfig | None  # None: the Unbound Data is already set up (keep it)
    envs: dict[int, EnvDef] | None = None


def default_paths(env: EnvDef) -> tuple[list[str], list[str]]:
    """(IdentFilePaths, SyncFilePathsSpecial) an environment defines."""
    ident = list(aspects()["identity"].paths(env.formats["identity"], env.device))
    special: list[str] = []
    for name, aspect in aspects().items():
        if aspect.tree == "SyncFiles" and name in env.formats:
            special += aspect.paths(env.formats[name], env.device)
    return ident, special + list(env.sync_paths)


def init(request: InitRequest, runner: Runner) -> list[str]:
    """Perform the set-up; return a line per thing done."""
    s = request.settings
    given = request.envs or REFERENCE
    # a server describes 1..its own EnvVersion; a site's file may go on (its newer servers)
    defs = {v: d for v, d in given.items() if v <= request.env}
    if set(defs) != set(range(1, request.env + 1)):
        raise ServerStateError(f"envs for 1..{request.env} are needed, got {sorted(defs)}")
    done = []
    s.config_file.parent.mkdir(parents=True, exist_ok=True)
    if write_if_changed(s.config_file, render(s), mode=0o644):
        done.append(f"settings {s.config_file}")
    # the newer ones are kept apart, for the doctor's test conversion up (layout/esd.py)
    newer = {v: d for v, d in given.items() if v > request.env}
    EsdData(s.esd_data).write(request.env, defs, newer)
    done.append(
        f"EnvID {request.env} and envs.toml in {s.esd_data}"
        + (
            f" (newer Env{', Env'.join(map(str, sorted(newer)))} apart, for the doctor)"
            if newer
            else ""
        )
    )
    sid = SidData(s.sid_data)
    if request.master is None:
        sid.master_config()  # must exist and parse
        return done
    if sid.master_config_file.exists():
        raise ServerStateError(
            f"{sid.master_config_file} exists: this Unbound Data is set up "
            "already (init without --role/--group keeps it)"
        )
    sid.write_master_config(request.master)
    ident, special = default_paths(defs[request.env])
    area = sid.area(request.master.role, request.env)
    area.path.mkdir(parents=True, exist_ok=True)
    atomic_write(area.path / "IdentFilePaths", paths_mod.render(ident), mode=0o600)
    atomic_write(area.path / "SyncFilePathsSpecial", paths_mod.render(special), mode=0o600)
    atomic_write(area.path / "SyncFilePaths", paths_mod.render(special), mode=0o600)
    History(s.sid_data, s.name, runner).ensure()
    done.append(
        f"MasterConfig ({request.master.role} of {request.master.group}) and "
        f"{area.path} in {s.sid_data}"
    )
    return done


@dataclass(frozen=True)
class InitReport:
    done: list[str]  # what was written
    conversions: list[preflight.TestConversion]  # this server's files to every older Env
    notes: list[str]
    next_steps: list[str]  # the commands to run next

    @property
    def ok(self) -> bool:
        return all(c.problem is None for c in self.conversions)


def init_and_check(request: InitRequest, runner: Runner) -> InitReport:
    """`atlas-ha init`: the set-up, then the test conversion of this server's files to every
    older EnvVersion of its envs.toml (sync/preflight.py), and what to run next."""
    done = init(request, runner)
    server = Server(request.settings, runner=runner)
    conversions = preflight.test_convert(server)
    config = request.settings.config_file
    cli = "atlas-ha" if config == DEFAULT_PATH else f"atlas-ha --config {config}"
    role = request.master.role if request.master else server.master().role
    if request.settings.transport == "ssh":
        token = join.offer(server).token()  # creates the role's client and host keys
        done.append(f"the role's ssh keys in {role_ssh_dir(request.settings.sid_data)}")
        peer = "each SEC" if role == "PRI" else "the PRI"
        steps = [
            f"{cli} keys sshd-config --write /etc/ssh/sshd_config.d  # runs sshd -t",
            "systemctl reload ssh                 # (sshd on RHEL): sshd reads the drop-in",
            f"atlas-ha join {token}  # paste on {peer}, then paste the reply it prints here",
        ]
    else:  # local: one machine, no ssh, no keys, no sshd; a server answers once booted
        then = "" if role == "PRI" else "; then the first cycle on the PRI"
        steps = [f"{cli} boot                 # Role/Identity Install, answers here{then}"]
    if role == "PRI":
        steps.append(f"{cli} sync cycle           # once every SEC is set up: the first cycle")
    return InitReport(done, conversions, preflight.notes(server), steps)


def settings_for(
    config: Path,
    name: str,
    root: Path,
    esd: Path,
    sid: Path,
    registry: Path | None,
    address: str | None,
    transport: str = "local",
    ssh_user: str | None = None,
    ssh_port: str | None = None,
) -> Settings:
    options = {"registry": str(registry)} if registry else {}
    if transport == "ssh":
        options = {k: v for k, v in (("user", ssh_user), ("port", ssh_port)) if v}
    elif transport != "local":
        raise SettingsError(f"--transport {transport!r}: expected local or ssh")
    elif ssh_user or ssh_port:
        raise SettingsError("--ssh-user and --ssh-port go with --transport ssh")
    return Settings(
        name=name,
        system_root=root,
        esd_data=esd,
        sid_data=sid,
        config_file=config,
        address=address,
        transport=transport,
        transport_options=options,
    )
