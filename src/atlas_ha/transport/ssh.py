"""The `ssh` transport: OpenSSH + rsync, one multiplexed connection per partner per cycle.

The first `ssh` of a connection becomes the ControlMaster and carries the JSON session with
the partner's `atlas-ha serve` (its forced command decides what runs, whatever we ask);
rsync pushes reuse that master connection. Settings (all optional)::

    [transport]
    kind = "ssh"
    known_hosts = "/var/lib/atlas-ha/esd/ssh/known_hosts"  # default: ESD_DATA/ssh/known_hosts
    user = "root"
    port = "22"
    bind = "own"        # "own": connect from this server's own address (what partners check)

Host keys are checked strictly against `known_hosts`, under the alias `atlas-<ROLE>` (the
role's host key travels with the role, so a moved PRI address is still recognised).

The client key is the key of the role this server holds, on its Unbound Data
(`layout.sid.role_key_file`: SID_DATA/.ssh/id_ed25519, made by `atlas-ha keys generate`): the
partners accept it only as that role (`transport.authority`), and it moves with the disk. There
is no per-server client key (the old ESD_DATA/ssh/id_ed25519 is not used: a key that stays with
a server would keep acting as a role the server no longer holds).

Each connection has its own directory (`layout.rundir`: ESD_DATA/run/ssh.<PID>.<random>/)
holding the ControlMaster's socket and ssh's own log (`ssh -E`): the master goes to the
background, where its messages ("Timeout, server ... not responding") would be lost, so a
connection that ends is reported with what ssh said, or with the request that waited and for
how long when it said nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

from atlas_ha.errors import SettingsError, TransportError
from atlas_ha.layout import rundir
from atlas_ha.layout.esd import server_known_hosts
from atlas_ha.layout.sid import role_key_file
from atlas_ha.model import Partner
from atlas_ha.settings import Settings
from atlas_ha.system import Runner
from atlas_ha.transport.base import Connection, Transport
from atlas_ha.transport.local import RSYNC
from atlas_ha.transport.pipe import PipeConnection

CONNECT_TIMEOUT = 10
PARTNER_TAIL = 200  # characters of the partner's stderr in an unreachable report


def generate_key(runner: Runner, path: Path, comment: str) -> None:
    """Create an ed25519 key pair without passphrase at `path` (and `path`.pub), once."""
    if not path.exists():
        runner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


class SshOptions:
    def __init__(self, settings: Settings) -> None:
        opts = settings.transport_options
        if "key" in opts:
            raise SettingsError(
                f"{settings.config_file}: [transport] key: the client key is the role's, on "
                f"the Unbound Data ({role_key_file(settings.sid_data)}); remove the setting"
            )
        self.key = role_key_file(settings.sid_data)
        known = server_known_hosts(settings.esd_data)
        self.known_hosts = Path(opts.get("known_hosts", str(known)))
        self.user = opts.get("user", "root")
        self.port = opts.get("port", "22")
        self.bind = opts.get("bind", "own")
        self.esd_data = settings.esd_data  # where the connections' directories go
        if not self.key.exists():
            raise TransportError(
                f"{self.key}: no ssh key of this server's role on its Unbound Data "
                "(run `atlas-ha keys generate`, then authorize it on the partners with "
                "`atlas-ha keys authorize --role ROLE`)"
            )


class SshConnection(PipeConnection):
    can_pull = True

    def __init__(self, role: str, partner: Partner, options: SshOptions, own: str) -> None:
        self.control_dir = rundir.new_control_dir(options.esd_data)
        self.log = self.control_dir / rundir.LOG
        self.log_mark = 0  # ssh's messages from here on belong to the current request
        user = partner.ssh_user or options.user
        port = str(partner.ssh_port or options.port)
        self.target = f"{user}@{partner.address}"
        self.ssh = [
            "ssh",
            "-i",
            str(options.key),
            "-p",
            port,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={options.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"HostKeyAlias=atlas-{role}",
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control_dir / rundir.SOCKET}",
            "-o",
            "ControlPersist=30",
            "-E",
            str(self.log),
        ]
        if options.bind == "own":
            self.ssh += ["-b", own]
        super().__init__(role, partner.address, [*self.ssh, self.target, "atlas-ha", "serve"])

    def _write(self, message: dict[str, Any]) -> None:
        try:
            super()._write(message)
        except TransportError as exc:
            self._raise_if_unreachable(exc)
            raise

    def _read(self) -> dict[str, Any]:
        try:
            return super()._read()
        except TransportError as exc:
            self._raise_if_unreachable(exc)
            raise

    def expect(self, request: dict[str, Any]) -> None:
        super().expect(request)
        with contextlib.suppress(OSError):
            self.log_mark = self.log.stat().st_size

    def transport_said(self) -> str:
        """What ssh logged since the current request was sent (its last lines)."""
        try:
            with self.log.open("rb") as log:
                log.seek(self.log_mark)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return " / ".join(line.strip() for line in text.splitlines() if line.strip())[-400:]

    def _raise_if_unreachable(self, exc: TransportError) -> None:
        if self.proc.poll() == 255:  # ssh itself failed: no route, refused, host key, timeout
            seconds = time.monotonic() - self.since
            who, said = f"{self.role} at {self.address}", self.transport_said()
            message = unreachable(who, self.waiting, seconds, said, self.stderr_tail())
            raise TransportError(message) from exc

    def push(self, source: Path, dest: str) -> None:
        # the partner's forced command confines rsync to our role's own directory; name the
        # area relative to it
        remote_shell = " ".join(self.ssh)
        self.run_rsync(
            [*RSYNC, "-e", remote_shell, f"{source}/", f"{self.target}:{Path(dest).name}/"]
        )

    def pull(self, source: str, dest: Path) -> None:
        # the partner's forced command lets rsync read only what its own session granted
        remote_shell = " ".join(self.ssh)
        self.run_rsync([*RSYNC, "-e", remote_shell, f"{self.target}:{source}", f"{dest}/"])

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        subprocess.run(
            [*self.ssh, "-O", "exit", self.target], capture_output=True, check=False, timeout=10
        )
        rundir.remove_control_dir(self.control_dir)


def unreachable(who: str, waiting: str, seconds: float, ssh_said: str, partner_said: str) -> str:
    """The report of an ssh that failed (exit 255) while `waiting` waited `seconds` for its
    answer: what ssh said, or, when it said nothing, that it did not and what happened; then
    the partner's last words (how far it got), which are not the cause."""
    if ssh_said.strip():
        text = (
            f"{who}: unreachable over ssh: {ssh_said.strip()} "
            f"(no answer to {waiting} after {seconds:.0f} s; ssh exit 255)"
        )
    else:
        text = (
            f"{who}: unreachable over ssh: the connection ended after {seconds:.0f} s "
            f"without an answer to {waiting} (ssh exit 255; no message from ssh)"
        )
    last = " / ".join(line.strip() for line in partner_said.splitlines() if line.strip())
    return text + (f"; the partner's last words: {last[-PARTNER_TAIL:]}" if last else "")


class SshTransport(Transport):
    def __init__(self, settings: Settings) -> None:
        self.options = SshOptions(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> SshTransport:
        return cls(settings)

    def connect(self, role: str, partner: Partner, own_address: str) -> Connection:
        return SshConnection(role, partner, self.options, own_address)
