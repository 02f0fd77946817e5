"""The lab: simulated servers with their own network namespace, address, sshd and disks.

    DIR/lab.json                   state: namespace prefix, each server's sshd PID and state
    DIR/servers/<S>/...            as in the demo group (root, esd, settings, unbound link)
    DIR/disks/<disk>/SID_DATA      the Unbound Data; DIR/disks/<disk>/ssh/host_ed25519 is the
                                   host key of the disk's role (it moves with the role)

Booting a server does what a real one does: Role/Identity Install, then the "OS" applies the
installed identity (read in the server's own format) to its namespace, then starts sshd.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from atlas_ha.converters import identity
from atlas_ha.demo.group import SimGroup
from atlas_ha.errors import ServerStateError
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
        self.group.build({name: (envs[name], roles[name]) for name in envs})
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
            self._stop_sshd(name)
        self.net.destroy([*self.servers(), CLIENT[0]])
        self.state_file.unlink(missing_ok=True)

    # -- power -------------------------------------------------------------------------------
    def boot(self, name: str) -> list[str]:
        info = self.servers()[name]
        if info["state"] == "up":
            raise ServerStateError(f"{name} is up already")
        sim = self.group.servers[name]
        out = self.exec(
            name, [sys.executable, "-m", "atlas_ha", "--config", str(sim.config), "boot"]
        )
        if out.returncode != 0:
            raise ServerStateError(f"boot {name}: {out.stderr.strip()}")
        ident = self.installed_identity(name)
        self.net.set_address(name, ident.address, ident.prefix)
        info.update(state="up", hostname=ident.hostname, address=ident.address)
        info["sshd_pid"] = self._start_sshd(name, ident.address)
        self._save()
        return out.stdout.splitlines()

    def shutdown(self, *names: str) -> None:
        for name in names:
            self._stop_sshd(name)
            self.net.clear_address(name)
            self.servers()[name].update(state="down", address=None)
        self._save()

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
    def _start_sshd(self, name: str, address: str) -> int:
        sim = self.group.servers[name]
        disk = self.group.disk_of(name)
        assert disk is not None
        host_key = self.base / "disks" / disk / "ssh" / "host_ed25519"
        config = sim.base / "esd" / "ssh" / "sshd_config"
        atomic_write(config, sshd_config(sim.base / "esd", address, SSH_PORT, host_key))
        log_path = sim.base / "sshd.log"
        log_path.touch()
        offset = log_path.stat().st_size
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with log_path.open("a") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.net.ns(name), SSHD, "-D", "-e", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while b"Server listening" not in log_path.read_bytes()[offset:]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ServerStateError(
                    f"sshd on {name} did not start: see {log_path} "
                    f"(offset {offset}, size {log_path.stat().st_size}, "
                    f"exit {proc.poll()})"
                )
            time.sleep(0.02)
        return proc.pid

    def _stop_sshd(self, name: str) -> None:
        pid = self.servers()[name].get("sshd_pid")
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                if _reaped(pid):
                    break
                time.sleep(0.01)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.servers()[name]["sshd_pid"] = None


def _reaped(pid: int) -> bool:
    """True once `pid` is gone (reaping it if it is our child)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
