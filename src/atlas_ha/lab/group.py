"""A group of simulated servers in one directory, reached through the local transport.

    DIR/servers/<S>/root/          the server's system root (its OS files)
    DIR/servers/<S>/esd/           its Bound Data (EnvID, envs.toml)
    DIR/servers/<S>/atlas-ha.toml  its settings
    DIR/servers/<S>/unbound        -> ../../disks/<disk> when a disk is plugged in
    DIR/disks/<disk>/SID_DATA      the Unbound Data
    DIR/net/                       the local transport's address registry

Shutting a server down unregisters its addresses; booting runs Role/Identity Install and
registers the address its installed identity gives (`atlas_ha.sync.boot`, what `atlas-ha
boot` and `atlas-ha shutdown` do; with the ssh transport the lab's sshd answers instead).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.converters import accounts, chrony, identity, postgresql
from atlas_ha.errors import ServerStateError
from atlas_ha.layout.esd import REFERENCE, EnvDef
from atlas_ha.model import MasterConfig, Partner
from atlas_ha.settings import load
from atlas_ha.sync.boot import boot, shutdown
from atlas_ha.sync.identity import IdentityResult
from atlas_ha.sync.init import InitRequest, settings_for
from atlas_ha.system import Runner
from atlas_ha.verifier.drift import init_and_record

# Loopback: traffic sent to a simulated server by mistake never leaves this machine.
ADDRESSES = {"PRI": "127.0.2.11", "SEC1": "127.0.2.12", "SEC2": "127.0.2.13"}
HOSTNAMES = {"PRI": "pri", "SEC1": "sec1", "SEC2": "sec2"}
APP_UID = 1000
SITE = b"server {\n    listen 80;\n    server_name www.acme.lan;\n    root /srv/www;\n}\n"
PASSWD = (
    "root:$6$rootsalt$Q1rootHash:0:0:root:/root:/bin/bash\n"  # noqa: S105 (demo accounts)
    "www-data:*:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "alice:$6$alicesalt$AliceHash0:1000:1000:Alice:/home/alice:/bin/bash\n"
)
GROUP = "root:x:0:\nwww-data:x:33:\nalice:x:1000:\n"
# The PostgreSQL server configuration the OS installs (postgresql.conf, pg_hba.conf); the
# PRI's copy is tuned by the administrator and synced, in each environment's location.
PG_CONF = b"listen_addresses = '*'\nport = 5432\nmax_connections = 50\n"
PG_TUNED = b"shared_buffers = 64MB\nlog_connections = on\n"
# A test group serves no status page: its servers share this machine, so their daemons would
# all ask for the default 127.0.0.1:8470 and all but the first log an ALERT (port taken). The
# real default stays; the lab and the demo's simulation write their own [report] or none.
NO_PAGE = '\n[report]\nlisten = ""  # a test group: no status page (lab/group.py)\n'
PG_HBA = (
    b"local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
    b"host all all 127.0.2.0/24 scram-sha-256\n"
)

# chrony as the OS installs it, in each environment's place (the PRI's copy is synced): every
# server asks the PRI's address; the PRI serves its own clock (`local`), and ignores its
# answers to itself once it is their reference (chronyd's loop test)
CHRONY_CONF = "# ACME time: the PRI's clock\nserver {pri} iburst\nlocal stratum 8\nallow\n"


def demo_envs(top: int) -> dict[int, EnvDef]:
    """The reference environments, each also syncing the /etc/app tree."""
    return {v: replace(REFERENCE[v], sync_paths=("/etc/app",)) for v in range(1, top + 1)}


def identity_of(
    role: str, device: str = "eth0", addresses: dict[str, str] | None = None
) -> identity.Identity:
    return identity.Identity(
        hostname=HOSTNAMES[role],
        device=device,
        address=(addresses or ADDRESSES)[role],
        prefix=24,
        gateway="127.0.2.1",
        dns=("127.0.2.1",),
    )


@dataclass
class SimServer:
    name: str
    env: int
    base: Path

    @property
    def config(self) -> Path:
        return self.base / "atlas-ha.toml"

    @property
    def root(self) -> Path:
        return self.base / "root"

    def server(self, log: object = None) -> Server:
        s = Server(load(self.config))
        if callable(log):
            s.log = log
        return s

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")


class SimGroup:
    # what a group puts in its directory (a directory holding anything else is not a group's)
    ENTRIES = frozenset({"servers", "disks", "net"})

    def __init__(
        self,
        base: Path,
        group: str = "acme-office",
        addresses: dict[str, str] | None = None,
        report: str | None = NO_PAGE,
        envs: Callable[[int], dict[int, EnvDef]] = demo_envs,
    ) -> None:
        """`report`: the `[report]` section appended to every server's settings (None: none,
        the real default of `[report] listen`)."""
        self.base = base
        self.envs = envs  # the envs.toml each server is set up with (EnvID -> 1..EnvID)
        self.group = group
        self.addresses = addresses or ADDRESSES
        self.report = report
        self.site = SITE
        self.pg_files = {"postgresql.conf": PG_CONF, "pg_hba.conf": PG_HBA}
        self.servers: dict[str, SimServer] = {}

    @property
    def registry(self) -> Path:
        return self.base / "net"

    def disk(self, name: str) -> Path:
        return self.base / "disks" / name

    def host_key(self, disk: str) -> Path:
        """The ssh host key of the role on `disk`: it travels with the disk (SPEC 10)."""
        return self.disk(disk) / "ssh" / "host_ed25519"

    def build(self, layout: dict[str, tuple[int, str]]) -> None:
        """Create servers {name: (env, role)} from scratch, each with its own disk."""
        if self.base.exists():
            shutil.rmtree(self.base)
        self.registry.mkdir(parents=True)
        for name, (env, role) in layout.items():
            sim = SimServer(name, env, self.base / "servers" / name)
            self.servers[name] = sim
            self.disk(f"disk-{name}").mkdir(parents=True)
            self.plug(f"disk-{name}", name)
            self._write_os(sim, role, with_config=(role == "PRI"))
            partners = (
                {
                    r: Partner(a)
                    for r, a in self.addresses.items()
                    if r != "PRI" and r in {ro for _e, ro in layout.values()}
                }
                if role == "PRI"
                else {"PRI": Partner(self.addresses["PRI"])}
            )
            master = MasterConfig(self.group, role, partners)
            settings = settings_for(
                sim.config,
                name,
                sim.root,
                sim.base / "esd",
                sim.base / "unbound" / "SID_DATA",
                self.registry,
                None,
            )
            request = InitRequest(settings, env, master, self.envs(env))
            init_and_record(request, Runner(), Server(settings, log=_quiet))
            if self.report is not None:
                with sim.config.open("a") as out:
                    out.write(self.report)

    def _write_os(self, sim: SimServer, role: str, with_config: bool) -> None:
        """The OS as installed by hand: identity in the server's own format, accounts, nginx."""
        env = self.envs(sim.env)[sim.env]
        for path, content in identity.render(
            env.formats["identity"], identity_of(role, env.device, self.addresses)
        ).items():
            _write(sim.file(path), content, 0o644)
        files = accounts.convert(
            "passwd-hash",
            env.formats["accounts"],
            {"/etc/passwd": PASSWD.encode(), "/etc/group": GROUP.encode()},
        )
        for path, content in files.items():
            _write(sim.file(path), content, 0o640 if path == "/etc/shadow" else 0o644)
        site_dir = (
            "/etc/nginx/conf.d" if env.formats["nginx"] == "conf.d" else "/etc/nginx/sites-enabled"
        )
        sim.file(site_dir).mkdir(parents=True, exist_ok=True)
        sim.file("/etc/app").mkdir(parents=True, exist_ok=True)
        pg_dir = postgresql.conf_dir(env.formats["postgresql"])
        for name, content in self.pg_files.items():
            tuned = with_config and name == "postgresql.conf"
            _write(sim.file(f"{pg_dir}/{name}"), content + PG_TUNED * tuned, 0o644)
        if fmt := env.formats.get("chrony"):
            conf = CHRONY_CONF.format(pri=self.addresses["PRI"]).encode()
            _write(sim.file(chrony.conf_path(fmt)), conf, 0o644)
            for path in chrony.paths(fmt)[1:]:  # Debian's package ships conf.d/, sources.d/
                sim.file(path).mkdir(parents=True, exist_ok=True)
        if with_config:
            name = "www.conf" if env.formats["nginx"] == "conf.d" else "www"
            _write(sim.file(f"{site_dir}/{name}"), self.site, 0o644)
            _write(sim.file("/etc/app/app.conf"), b"level = 3\n", 0o640, APP_UID)
            (sim.file("/etc/app/conf.d")).mkdir(exist_ok=True)
            _write(sim.file("/etc/app/conf.d/extra.conf"), b"extra = yes\n", 0o644)
            os.symlink("app.conf", sim.file("/etc/app/current"))

    # -- disks and power ------------------------------------------------------------------
    def plug(self, disk: str, server: str) -> None:
        link = self.base / "servers" / server / "unbound"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            raise ServerStateError(f"{server} has a disk plugged in already")
        link.symlink_to(Path("..") / ".." / "disks" / disk)

    def unplug(self, server: str) -> str:
        link = self.base / "servers" / server / "unbound"
        if not link.is_symlink():
            raise ServerStateError(f"{server} has no disk plugged in")
        disk = Path(os.readlink(link)).name
        link.unlink()
        return disk

    def swap(self, a: str, b: str) -> None:
        self.shutdown(a, b)
        self.swap_disks(a, b)

    def swap_disks(self, a: str, b: str) -> None:
        disk_a, disk_b = self.unplug(a), self.unplug(b)
        self.plug(disk_b, a)
        self.plug(disk_a, b)

    def disk_of(self, server: str) -> str | None:
        link = self.base / "servers" / server / "unbound"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def attached_to(self, disk: str) -> str | None:
        return next((s for s in self.servers if self.disk_of(s) == disk), None)

    def loose_disks(self) -> list[str]:
        """The disks plugged into no server."""
        disks = sorted(p.name for p in (self.base / "disks").iterdir())
        return [d for d in disks if self.attached_to(d) is None]

    def shutdown(self, *names: str) -> None:
        for name in names:
            shutdown(self.servers[name].server())

    def boot(self, name: str, log: Callable[[str], None] | None = None) -> IdentityResult:
        """Role/Identity Install, then answer on the address of the installed identity
        (sync.boot); `log`: where the server's operation log goes (its own default without)."""
        return boot(self.servers[name].server(log)).identity

    def is_up(self, name: str) -> bool:
        return bool(self.addresses_of(name))

    def addresses_of(self, name: str) -> list[str]:
        """The addresses registered for server `name` (none while it is shut down)."""
        config = str(self.servers[name].config.resolve())
        return sorted(p.name for p in self.registry.glob("*") if p.read_text().strip() == config)

    def installed_identity(self, name: str) -> identity.Identity:
        """The identity in server `name`'s OS files, read in its environment's format."""
        server = self.servers[name].server(lambda _line: None)
        env = server.envs[server.env_id]
        fmt = env.formats["identity"]
        root = server.settings.system_root
        files = {
            p: root.joinpath(p.lstrip("/")).read_bytes()
            for p in identity.paths(fmt, env.device)
            if root.joinpath(p.lstrip("/")).exists()
        }
        return identity.parse(fmt, files)


def _quiet(_line: str) -> None:
    pass


def _write(path: Path, content: bytes, mode: int, uid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
