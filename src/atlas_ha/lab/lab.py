"""The lab: simulated servers with their own network namespace, address, sshd and disks.

    DIR/lab.json                   state: namespace prefix, each server's sshd PID and state
    DIR/servers/<S>/...            as in the demo group (root, esd, settings, unbound link)
    DIR/disks/<disk>/SID_DATA      the Unbound Data; DIR/disks/<disk>/ssh/host_ed25519 is the
                                   host key of the disk's role (it moves with the role)
    DIR/report-auth                the token opening every status page (lab/pages.py)
    DIR/sink/                      the SMTP sink the alert rules mail (lab/smtp_sink.py)

Booting a server does what a real one does: Role/Identity Install, then the "OS" applies the
installed identity (read in the server's own format) to its namespace, then starts sshd and
what the server runs (lab/start.py: also what each server is given before its first boot).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_ha.converters import identity
from atlas_ha.errors import EXIT_DIFFERENCES, EXIT_VERIFY_BASE, ServerStateError
from atlas_ha.lab import host, pages, postgres, services, smtp_sink, start
from atlas_ha.lab.group import SimGroup
from atlas_ha.lab.keys import setup_keys
from atlas_ha.lab.loopnet import LoopNet
from atlas_ha.lab.net import LabNet
from atlas_ha.lab.start import CYCLE_INTERVAL
from atlas_ha.lab.start import PRI_DATA as PRI_DATA  # the demo reads it here
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.system import Completed, Runner
from atlas_ha.verifier.profile import Status

ADDRESSES = {
    "PRI": "198.51.100.11",
    "SEC1": "198.51.100.12",
    "SEC2": "198.51.100.13",
    "SEC3": "198.51.100.14",
}
CLIENT = ("client", "198.51.100.100")
SSH_PORT = 22
# what a lab server runs, stopped in this order (by PID); the anchor holds its namespaces
PROCESSES = (
    "daemon_pid",
    "smbd_pid",
    "chronyd_pid",
    "msmtpd_pid",
    "dnsmasq_pid",
    "dbpage_pid",
    "postgres_pid",
    "nginx_pid",
    "sshd_pid",
    "anchor",
)


@dataclass(frozen=True)
class Mode:
    """How the lab's servers get their network: namespaces (root) or loopback (no root)."""

    name: str
    addresses: dict[str, str]
    client: tuple[str, str]
    ssh_port: int
    http_port: int
    pg_port: int
    sink_port: int = 25  # the SMTP sink on the client host


NETNS = Mode("netns", ADDRESSES, CLIENT, SSH_PORT, 80, 5432)
LOOPBACK = Mode(
    "loopback",
    {role: a.replace("198.51.100.", "127.0.1.") for role, a in ADDRESSES.items()},
    ("client", "127.0.1.100"),
    2222,
    8080,
    15432,
    2525,
)


class Lab:
    # what a lab puts in its directory, besides its group's
    ENTRIES = SimGroup.ENTRIES | {"lab.json", "loopnet.json", "mnt", "report-auth", "sink"}

    def __init__(
        self, base: Path, runner: Runner | None = None, loopback: bool | None = None
    ) -> None:
        """`loopback`: None = namespaces when running as root, else loopback addresses; a lab
        that is up keeps the mode it was set up with."""
        self.base = base.resolve()
        self.runner = runner or Runner()
        self.state: dict[str, Any] = self._load()
        if "mode" in self.state:
            loopback = self.state["mode"] == LOOPBACK.name
        elif loopback is None:
            loopback = os.geteuid() != 0
        self.mode = LOOPBACK if loopback else NETNS
        self.group = SimGroup(self.base, addresses=self.mode.addresses, report=None)  # its own
        digest = hashlib.sha1(str(self.base).encode()).hexdigest()[:4]  # noqa: S324 (a name)
        self.net: LabNet | LoopNet = (
            LoopNet(self.base / "loopnet.json", f"ah{digest}-")
            if loopback
            else LabNet(f"ah{digest}-", self.runner)
        )
        for name, info in self.state.get("servers", {}).items():
            from atlas_ha.lab.group import SimServer

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

    @property
    def report_auth_file(self) -> Path:
        """The header opening every server's status page (`curl -H @FILE`), mode 0600."""
        return self.base / "report-auth"

    @property
    def sink_dir(self) -> Path:
        return self.base / "sink"

    # -- up and down -----------------------------------------------------------------------
    def up(
        self, envs: dict[str, int], roles: dict[str, str], cycle_interval: float = CYCLE_INTERVAL
    ) -> dict[str, dict[str, Any]]:
        """Set the servers up from scratch (`atlas-ha init`) and boot them: first boot results."""
        if self.state_file.exists():
            raise ServerStateError(f"{self.state_file}: a lab is set up here (lab down first)")
        loopback = self.mode is LOOPBACK
        self.group.site = (
            services.site_body(services.LOOP_DOCROOT)
            if loopback
            else services.site(self.mountpoint / "www")
        )
        subnet = "127.0.0.0/8" if loopback else str(self.net.subnet)
        self.group.pg_files = postgres.server_files(subnet)
        self.group.build({name: (envs[name], roles[name]) for name in envs})
        sink_python = smtp_sink.python()
        start.install_services(self, envs, roles, sink_python is not None)
        self.state = {
            "mode": self.mode.name,
            "cycle_interval": cycle_interval,
            "prefix": self.net.prefix,
            "servers": {
                name: {"env": envs[name], "state": "down", "sshd_pid": None} for name in envs
            },
        }
        self._save()
        setup_keys(self.group, roles, self.mode.ssh_port, verifier_keys=True)
        self.net.create([*envs, self.mode.client[0]])
        self.net.set_address(*self.mode.client, 24)
        if sink_python is not None:
            self.state["sink_pid"] = smtp_sink.start(
                self.on_client([]),
                sink_python,
                self.mode.client[1],
                self.mode.sink_port,
                self.sink_dir,
            )
            self._save()
        return {name: self.boot_result(name) for name in envs}

    def down(self) -> None:
        for name in list(self.servers()):
            self._stop_all(name)
        host.stop(self.state.get("sink_pid"))
        self.net.destroy()
        self.state_file.unlink(missing_ok=True)

    @property
    def client_ns(self) -> str:
        return self.net.ns(self.mode.client[0])

    @property
    def addresses(self) -> dict[str, str]:
        return self.mode.addresses

    def on_client(self, argv: list[str]) -> list[str]:
        """`argv` run on the lab's client host."""
        return self.net.wrap(self.mode.client[0], argv)

    @property
    def mountpoint(self) -> Path:
        """Where each server sees its own plugged disk (in its own mount namespace)."""
        return self.base / "mnt" / "unbound"

    def page_listen(self, name: str) -> str:
        """`[report] listen` of server `name`'s status page (lab/pages.py)."""
        return pages.listen(self.mode is LOOPBACK, list(self.group.servers).index(name))

    # -- power -------------------------------------------------------------------------------
    def boot(self, name: str) -> list[str]:
        """Boot server `name` (see `boot_result`): what it installed, as lines to print."""
        result = self.boot_result(name)
        lines = [f"boot {name}: EnvID {result['env']}, role {result['role']}: {result['note']}"]
        return lines + [f"    installed {p}" for p in result["installed"]]

    def boot_result(self, name: str) -> dict[str, Any]:
        """Role/Identity Install, the identity applied to the namespace, then sshd, nginx and
        PostgreSQL; each phase's duration is kept in the state as boot_timings. The result
        of the Role/Identity Install (`atlas-ha boot --json`: role, env, installed,
        converted, note)."""
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
            anchor = (
                None
                if self.mode is LOOPBACK
                else host.start_anchor(
                    self.net.ns(name),
                    self.base / "disks" / disk,
                    self.mountpoint,
                    ident.hostname,
                    self.group.servers[name].base / "anchor.log",
                )
            )
            info.update(state="up", hostname=ident.hostname, address=ident.address, anchor=anchor)
            self._save()
            info["sshd_pid"] = start.start_sshd(self, name, ident.address, anchor)
        with _timed(timings, "nginx + PostgreSQL"):
            start.start_services(self, name, anchor, ident.address)
        with _timed(timings, "sync runner"):
            start.start_daemon(self, name, anchor)
        info["boot_timings"] = timings
        info["installed"] = list(result["installed"])  # identity files installed from the disk
        self._save()
        return result

    def _identity_install(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.atlas(name, ["boot", "--json"]).stdout)
        return result

    def nginx_argv(self, name: str, conf: Path, *extra: str) -> list[str]:
        return start.nginx_argv(self, name, conf, *extra)

    def shutdown(self, *names: str) -> None:
        for name in names:
            self._stop_all(name)
            self.net.clear_address(name)
            self.servers()[name].update(state="down", address=None)
        self._save()

    def _stop_all(self, name: str) -> None:
        info = self.servers()[name]
        for key in PROCESSES:
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
        return self.runner.run(self.net.wrap(name, argv), check=False, timeout=timeout)

    def command(self, name: str, argv: list[str]) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) of `lab exec NAME -- argv`: on a running server in its
        network, mount and UTS namespaces (its host name, its disk at the lab's mount
        point), on a server that is down in its network namespace only (loopback mode: on
        the host); ATLAS_HA_CONFIG names the server's settings and this atlas-ha's
        directory comes first on PATH, so `atlas-ha status` there is that server's."""
        sim = self.group.servers.get(name)
        if sim is None or name not in self.servers():
            known = ", ".join(self.servers()) or "none (is the lab up?)"
            raise ServerStateError(f"{self.base}: no lab server {name!r} (servers: {known})")
        if not argv:
            raise ServerStateError(f"lab exec {name}: no command given")
        anchor = self.servers()[name].get("anchor")
        where = host.enter(anchor) if anchor else self.net.wrap(name, [])
        bindir = str(Path(sys.executable).parent)
        path = os.pathsep.join([bindir, os.environ.get("PATH", os.defpath)])
        env = {**os.environ, "ATLAS_HA_CONFIG": str(sim.config), "PATH": path}
        return [*where, *argv], env

    def run_on(self, name: str, argv: list[str]) -> int:
        """Run `lab exec` (see `command`) with the caller's terminal; its exit status."""
        full, env = self.command(name, argv)
        try:
            return subprocess.run(full, env=env, check=False).returncode
        except FileNotFoundError as exc:
            raise ServerStateError(f"lab exec {name}: {full[0]}: program not found") from exc

    def atlas(
        self, name: str, args: list[str], results: tuple[int, ...] = (), timeout: float = 300
    ) -> Completed:
        """`atlas-ha --config <its settings> ARGS` on server `name`, in its network; exit
        codes other than 0 and `results` (codes that report a result, errors.py) raise."""
        config = str(self.group.servers[name].config)
        argv = [sys.executable, "-m", "atlas_ha", "--config", config, *args]
        out = self.exec(name, argv, timeout=timeout)
        if out.returncode not in (0, *results):
            command = " ".join(a for a in args if not a.startswith("-"))
            raise ServerStateError(
                f"{command} on {name}: exit {out.returncode}: {out.stderr.strip()}"
            )
        return out

    def cycle(self, name: str) -> dict[str, Any]:
        """One SyncCycle from server `name` (`atlas-ha sync cycle --json`): its report."""
        out = self.atlas(name, ["sync", "cycle", "--json"], (EXIT_DIFFERENCES,))
        report: dict[str, Any] = json.loads(out.stdout)
        return report

    def compare(self, name: str) -> list[dict[str, Any]]:
        """Snapshot Compare on the PRI `name` (`atlas-ha sync compare --json`): per SEC."""
        out = self.atlas(name, ["sync", "compare", "--json"], (EXIT_DIFFERENCES,))
        results: list[dict[str, Any]] = json.loads(out.stdout)
        return results

    def send_own(self, name: str) -> None:
        """Server `name` snapshots its own role, converts it down and sends it to its
        partners (`atlas-ha sync create`, `convert-older`, `send`), as an operator can."""
        for step in (["sync", "create"], ["sync", "convert-older"], ["sync", "send"]):
            self.atlas(name, step)

    def verify(self, name: str) -> list[dict[str, Any]]:
        """One Verifier round on server `name` (`atlas-ha verify run --json`, in its network):
        one result row per check."""
        not_ok = tuple(EXIT_VERIFY_BASE + s for s in Status if s != Status.OK)
        out = self.atlas(name, ["verify", "run", "--json"], not_ok, timeout=120)
        rows: list[dict[str, Any]] = json.loads(out.stdout)["results"]
        return rows

    def installed_identity(self, name: str) -> identity.Identity:
        return self.group.installed_identity(name)

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
                    "netns": self.net.netns(name),
                }
            )
        disks = [
            {"name": d.name, "attached_to": self.group.attached_to(d.name)}
            for d in sorted((self.base / "disks").iterdir())
        ]
        return {
            "servers": servers,
            "client": {
                "netns": self.net.netns(self.mode.client[0]),
                "address": self.mode.client[1],
            },
            "disks": disks,
        }


@contextlib.contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[phase] = time.monotonic() - started
