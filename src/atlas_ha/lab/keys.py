"""ssh keys and sshd configuration of the lab's servers.

Each server has its own client key (Bound Data, ESD_DATA/ssh/id_ed25519). Each disk carries
the host key of its role (DIR/disks/<disk>/ssh/host_ed25519), so the role keeps its host key
when it moves. Every server accepts every other server's key, but only through the forced
command (atlas-ha's serve entry point); the role checks of SPEC 5.8 decide the rest.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
from pathlib import Path

from atlas_ha.cli.main import main
from atlas_ha.demo.group import SimGroup
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.system import Runner
from atlas_ha.transport.ssh import generate_key


def _atlas(*argv: str) -> int:
    """An atlas-ha command of the lab's set-up, its chatter kept off the console."""
    with contextlib.redirect_stdout(io.StringIO()):
        return main(list(argv))


def setup_keys(
    group: SimGroup, roles: dict[str, str], port: int, verifier_keys: bool = False
) -> None:
    """Client keys, role host keys and known_hosts; with `verifier_keys`, also each server's
    verifier key, accepted by every other server for the ssh check's fixed answer only."""
    runner = Runner()
    role_keys = {}
    user = pwd.getpwuid(os.geteuid()).pw_name  # root, or whoever runs an unprivileged lab
    for name, sim in group.servers.items():
        text = sim.config.read_text().replace(
            'kind = "local"', f'kind = "ssh"\nport = "{port}"\nuser = "{user}"'
        )
        atomic_write(sim.config, text)
        for what in ("generate", "verifier-key") if verifier_keys else ("generate",):
            if _atlas("--config", str(sim.config), "keys", what) != 0:
                raise RuntimeError(f"keys {what} failed on {name}")
        disk_ssh = group.base / "disks" / f"disk-{name}" / "ssh"
        disk_ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_key = disk_ssh / "host_ed25519"
        generate_key(runner, host_key, f"atlas-{roles[name]}")
        role_keys[roles[name]] = host_key.with_suffix(".pub").read_text().split()[:2]
    known = "".join(f"atlas-{role} {kind} {key}\n" for role, (kind, key) in role_keys.items())
    for name, sim in group.servers.items():
        for other, other_sim in group.servers.items():
            if other != name:
                keys = other_sim.base / "esd" / "ssh"
                config = str(sim.config)
                _atlas("--config", config, "keys", "authorize", str(keys / "id_ed25519.pub"))
                if verifier_keys:
                    verifier = str(keys / "verifier_ed25519.pub")
                    _atlas("--config", config, "keys", "authorize-verifier", verifier)
        atomic_write(sim.base / "esd" / "ssh" / "known_hosts", known, mode=0o600)


def sshd_config(esd: Path, address: str, port: int, host_key: Path) -> str:
    ssh = esd / "ssh"
    return "\n".join(
        [
            f"ListenAddress {address}:{port}",
            f"HostKey {host_key}",
            f"PidFile {ssh / 'sshd.pid'}",
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
            "PermitRootLogin forced-commands-only",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "StrictModes no",
            "PrintMotd no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            # a partner that vanished (partition, power cut) ends its session and the
            # forced command's processes within 15 s, not after TCP's two hours
            "ClientAliveInterval 5",
            "ClientAliveCountMax 3",
            "LogLevel VERBOSE",
            "",
        ]
    )
