"""The lab: simulated servers with their own network namespace, address, sshd and disks.

    DIR/lab.json                   state: namespace prefix, each server's sshd PID and state
    DIR/servers/<S>/...            as in the demo group (root, esd, settings, unbound link)
    DIR/disks/<disk>/SID_DATA      the Unbound Data; DIR/disks/<disk>/ssh/host_ed25519 is the
                                   host key of the disk's role (it moves with the role)

Booting a server does what a real one does: Role/Identity Install, then the "OS" applies the
installed identity (read in the server's own format) to its namespace, then starts sshd.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from atlas_ha.converters import identity
from atlas_ha.demo.group import SimGroup
from atlas_ha.errors import ServerStateError
from atlas_ha.lab import host, postgres, services
from atlas_ha.lab.keys import setup_keys, sshd_config
from atlas_ha.lab.net import LabNet
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.system import Completed, Runner

ADDRESSES = {
    "PRI": "198.51.100.11",
    "SEC1": "198.51.100.12",
    "SEC2": "198.51.100.13",
    "SEC3": "198.51.100.14",
}
CLIENT = ("client", "198.51.100.100")
SSH_PORT = 22
SSHD = "/usr/sbin/sshd"


class Lab:
    def __init__(self, base: Path, runner: Runner | None = None) -> None:
        self.base = base.resolve()
        self.runner = runner or Runner()
        self.group = SimGroup(self.base, addresses=ADDRESSES)
        digest = hashlib.sha1(str(self.base).encode()).hexdigest()[:4]  # noqa: S324 (a name)
        self.net = LabNet(f"ah{digest}-", self.runner)
        self.state: dict[str, Any] = self._load()
        for name, info in self.state.get("servers", {}).items():
            from atlas_ha.demo.group import SimServer

            self.group.servers[name] = SimServer(
                name, int(info["env"]), self.base / "servers" / name
            )

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.base / "lab.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        atomic_write(self.state_file, json.dumps(self.state, indent=1, sort_keys=True))

    def servers(self) -> dict[str, dict[str, Any]]:
        servers: dict[str, dict[str, Any]] = self.state.setdefault("servers", {})
        return servers

    # -- up and down -----------------------------------------------------------------------
    def up(self, envs: dict[str, int], roles: dict[str, str]) -> None:
        if self.state_file.exists():
            raise ServerStateError(f"{self.state_file}: a lab is set up here (lab down first)")
        self.group.site = services.site(self.mountpoint / "www")
        self.group.build({name: (envs[name], roles[name]) for name in envs})
        self._install_services(envs, roles)
        self.state = {
            "prefix": self.net.prefix,
            "servers": {
                name: {"env": envs[name], "state": "down", "sshd_pid": None} for name in envs
            },
        }
        self._save()
        setup_keys(self.group, roles, SSH_PORT)
        self.net.create([*envs, CLIENT[0]])
        self.net.set_address(CLIENT[0], CLIENT[1], 24)
        for name in envs:
            self.boot(name)

    def down(self) -> None:
        for name in list(self.servers()):
            self._stop_all(name)
        self.net.destroy()
        self.state_file.unlink(missing_ok=True)

    @property
    def client_ns(self) -> str:
        return self.net.ns(CLIENT[0])

    @property
    def mountpoint(self) -> Path:
        """Where each server sees its own plugged disk (in its own mount namespace)."""
        return self.base / "mnt" / "unbound"

    def _install_services(self, envs: dict[str, int], roles: dict[str, str]) -> None:
        for name, sim in self.group.servers.items():
            services.client_data(
                self.base / "disks" / f"disk-{name}",
                "client data on the PRI's disk"
                if roles[name] == "PRI"
                else f"skeleton of the {roles[name]} disk",
            )
            if postgres.available():
                postgres.init_cluster(
                    self.runner,
                    self.base / "disks" / f"disk-{name}",
                    str(self.net.subnet),
                    client_data=roles[name] == "PRI",
                )
            server = sim.server(lambda _l: None)
            fmt = server.envs[envs[name]].formats["nginx"]
            services.write_nginx(sim.root, sim.base / "run", fmt)
            services.mirror_mount(sim.root, self.mountpoint, sim.base / "unbound")
            if roles[name] == "PRI":  # synced to the SECs by the first cycle
                services.write_verifier_files(sim.root)
            # nginx is reloaded after an install by the services file's reload command

    # -- power -------------------------------------------------------------------------------
    def boot(self, name: str) -> list[str]:
        """Role/Identity Install, the identity applied to the namespace, then sshd, nginx and
        PostgreSQL; each phase's duration is kept in the state as boot_timings."""
        info = self.servers()[name]
        if info["state"] == "up":
            raise ServerStateError(f"{name} is up already")
        timings: dict[str, float] = {}
        with _timed(timings, "identity install"):
            result = self._identity_install(name)
        timings["  of which conversions"] = float(result["convert_seconds"])
        with _timed(timings, "address + ARP"):
            ident = self.installed_identity(name)
            self.net.set_address(name, ident.address, ident.prefix)
        with _timed(timings, "namespaces + sshd"):
            disk = self.group.disk_of(name)
            assert disk is not None
            anchor = host.start_anchor(
                self.net.ns(name), self.base / "disks" / disk, self.mountpoint, ident.hostname
            )
            info.update(state="up", hostname=ident.hostname, address=ident.address, anchor=anchor)
            self._save()
            info["sshd_pid"] = self._start_sshd(name, ident.address, anchor)
        with _timed(timings, "nginx + PostgreSQL"):
            self._start_services(name, anchor, ident.address)
        info["boot_timings"] = timings
        self._save()
        lines = [f"boot {name}: EnvID {result['env']}, role {result['role']}: {result['note']}"]
        return lines + [f"    installed {p}" for p in result["installed"]]

    def _identity_install(self, name: str) -> dict[str, Any]:
        config = str(self.group.servers[name].config)
        out = self.exec(
            name, [sys.executable, "-m", "atlas_ha", "--config", config, "boot", "--json"]
        )
        if out.returncode != 0:
            raise ServerStateError(f"boot {name}: {out.stderr.strip()}")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def _start_services(self, name: str, anchor: int, address: str) -> None:
        sim, info = self.group.servers[name], self.servers()[name]
        run = sim.base / "run"
        conf = sim.root / "etc" / "nginx" / "nginx.conf"
        info["nginx_pid"] = host.spawn(
            anchor,
            services.nginx_argv(run, conf, "-g", "daemon off;"),
            run / "nginx.log",
            what=f"nginx on {name}",
        )
        if postgres.available():
            argv = postgres.postmaster_argv(self.mountpoint / "pgdata", address, run / "pg")
            info["postgres_pid"] = host.spawn(
                anchor,
                argv,
                run / "postgres.log",
                ready=b"ready to accept connections",
                what=f"PostgreSQL on {name}",
            )

    def shutdown(self, *names: str) -> None:
        for name in names:
            self._stop_all(name)
            self.net.clear_address(name)
            self.servers()[name].update(state="down", address=None)
        self._save()

    def _stop_all(self, name: str) -> None:
        info = self.servers()[name]
        for key in ("postgres_pid", "nginx_pid", "sshd_pid", "anchor"):
            host.stop(info.get(key))
            info[key] = None

    def swap(self, a: str, b: str) -> None:
        self.shutdown(a, b)
        self.group.swap_disks(a, b)
        self.boot(a)
        self.boot(b)

    def unplug(self, name: str) -> str:
        if self.servers()[name]["state"] == "up":
            raise ServerStateError(f"{name} is running: shut it down before unplugging")
        return self.group.unplug(name)

    def plug(self, disk: str, name: str) -> None:
        if self.servers()[name]["state"] == "up":
            raise ServerStateError(f"{name} is running: shut it down before plugging")
        self.group.plug(disk, name)

    # -- running things ------------------------------------------------------------------------
    def exec(self, name: str, argv: list[str], timeout: float = 300) -> Completed:
        return self.runner.run(
            ["ip", "netns", "exec", self.net.ns(name), *argv], check=False, timeout=timeout
        )

    def cycle(self, name: str) -> dict[str, Any]:
        sim = self.group.servers[name]
        out = self.exec(
            name,
            [
                sys.executable,
                "-m",
                "atlas_ha",
                "--config",
                str(sim.config),
                "sync",
                "cycle",
                "--json",
            ],
        )
        if out.returncode not in (0, 20):
            raise ServerStateError(f"cycle on {name}: exit {out.returncode}: {out.stderr}")
        report: dict[str, Any] = json.loads(out.stdout)
        return report

    def installed_identity(self, name: str) -> identity.Identity:
        server = self.group.servers[name].server(lambda _line: None)
        env = server.envs[server.env_id]
        fmt = env.formats["identity"]
        files = {
            p: server.settings.system_root.joinpath(p.lstrip("/")).read_bytes()
            for p in identity.paths(fmt, env.device)
            if server.settings.system_root.joinpath(p.lstrip("/")).exists()
        }
        return identity.parse(fmt, files)

    def status(self) -> dict[str, Any]:
        servers = []
        for name, info in self.servers().items():
            disk = self.group.disk_of(name)
            role = None
            if disk:
                try:
                    role = self.group.servers[name].server(lambda _l: None).role()
                except ServerStateError:
                    role = None
            servers.append(
                {
                    "name": name,
                    "env": info["env"],
                    "state": info["state"],
                    "disk": disk,
                    "role": role,
                    "address": info.get("address"),
                    "netns": self.net.ns(name),
                }
            )
        disks = [
            {"name": d.name, "attached_to": self.group.attached_to(d.name)}
            for d in sorted((self.base / "disks").iterdir())
        ]
        return {
            "servers": servers,
            "client": {"netns": self.net.ns(CLIENT[0]), "address": CLIENT[1]},
            "disks": disks,
        }

    # -- sshd ------------------------------------------------------------------------------------
    def _start_sshd(self, name: str, address: str, anchor: int) -> int:
        sim = self.group.servers[name]
        disk = self.group.disk_of(name)
        assert disk is not None
        host_key = self.base / "disks" / disk / "ssh" / "host_ed25519"
        config = sim.base / "esd" / "ssh" / "sshd_config"
        atomic_write(config, sshd_config(sim.base / "esd", address, SSH_PORT, host_key))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        return host.spawn(
            anchor,
            [SSHD, "-D", "-e", "-f", str(config)],
            sim.base / "sshd.log",
            ready=b"Server listening",
            what=f"sshd on {name}",
        )


@contextlib.contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[phase] = time.monotonic() - started
