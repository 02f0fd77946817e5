"""ssh keys and sshd configuration of the lab's servers.

Authority belongs to the role (SPEC 10), so everything a role's ssh identity consists of lives
on the role's disk and moves with it: its host key (DIR/disks/<disk>/ssh/host_ed25519), its
client key and the partner roles' keys it accepts (SID_DATA/.ssh/id_ed25519 and
authorized_keys, `transport.rolekeys`). The PRI's disk accepts each SEC's key as that SEC,
each SEC's disk the PRI's key as PRI, every one only from the role's address and only through
the forced command. A disk swap needs no re-keying. Per server (Bound Data) stay known_hosts
(every role's host key under its alias) and the Verifier's key, accepted by every other
server for the ssh check's fixed answer only.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from atlas_ha.lab.group import SimGroup, SimServer
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.esd import EsdData, server_authorized_keys, server_known_hosts, server_ssh_dir
from atlas_ha.layout.sid import role_authorized_keys, role_key_file
from atlas_ha.settings import load
from atlas_ha.system import Runner
from atlas_ha.transport.rolekeys import authorize_role, generate_role_key
from atlas_ha.transport.ssh import generate_key
from atlas_ha.verifier.keys import authorize_verifier, generate_verifier_key

# sshd's own PATH for root, after the directory of atlas-ha as the lab installs it
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def setup_keys(
    group: SimGroup, roles: dict[str, str], port: int, verifier_keys: bool = False
) -> None:
    """ssh settings, each role's client key and host key on its disk, each disk's authorized
    partner roles, known_hosts; with `verifier_keys`, also each server's verifier key."""
    runner = Runner()
    role_keys = {}
    user = pwd.getpwuid(os.geteuid()).pw_name  # root, or whoever runs an unprivileged lab
    for name, sim in group.servers.items():
        text = sim.config.read_text().replace(
            'kind = "local"', f'kind = "ssh"\nport = "{port}"\nuser = "{user}"'
        )
        atomic_write(sim.config, text)
        settings = load(sim.config)
        generate_role_key(settings, runner)
        if verifier_keys:
            generate_verifier_key(settings, runner)
        host_key = group.host_key(f"disk-{name}")
        host_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        generate_key(runner, host_key, f"atlas-{roles[name]}")
        role_keys[roles[name]] = host_key.with_suffix(".pub").read_text().split()[:2]
    client_keys = {roles[name]: _role_pub(sim) for name, sim in group.servers.items()}
    known = "".join(f"atlas-{role} {kind} {key}\n" for role, (kind, key) in role_keys.items())
    for name, sim in group.servers.items():
        settings = load(sim.config)
        # the PRI accepts every SEC; a SEC only its PRI (SPEC 2, partners)
        secs = sorted(r for r in client_keys if r != "PRI")
        for partner in secs if roles[name] == "PRI" else ["PRI"]:
            authorize_role(settings, partner, client_keys[partner], None)
        if verifier_keys:
            for other, other_sim in group.servers.items():
                if other != name:
                    verifier = server_ssh_dir(other_sim.base / "esd") / "verifier_ed25519.pub"
                    authorize_verifier(settings, verifier)
        atomic_write(server_known_hosts(sim.base / "esd"), known, mode=0o600)


def _role_pub(sim: SimServer) -> Path:
    """The public client key of the role on the disk plugged into `sim`."""
    return role_key_file(load(sim.config).sid_data).with_suffix(".pub")


def installed_program(sim: SimServer) -> Path:
    """`atlas-ha` as installed on server `sim` (DIR/servers/<S>/bin/atlas-ha); its directory
    goes first on sshd's PATH. It runs the server's `current` side-by-side version when one
    is in use (ESD_DATA/bin/current, `atlas-ha version use`), else this Python with this
    package, however it was installed."""
    program = sim.base / "bin" / "atlas-ha"
    current = EsdData(load(sim.config).esd_data).current_program
    text = (
        f'#!/bin/sh\n[ -x "{current}" ] && exec "{current}" "$@"\n'
        f'exec "{sys.executable}" -m atlas_ha "$@"\n'
    )
    if not program.exists() or program.read_text() != text:
        program.parent.mkdir(exist_ok=True)
        atomic_write(program, text, mode=0o755)
    return program


def sshd_config(sim: SimServer, address: str, port: int, host_key: Path) -> str:
    """The sshd of server `sim`: the host key of the role it holds (`host_key`, on the disk);
    the role's authorized partner keys, on the disk plugged in (through the server's own link
    to it), then the server's own Verifier keys; the forced command found on PATH and run
    under this server's settings."""
    settings = load(sim.config)
    ssh = server_ssh_dir(settings.esd_data)
    path = ":".join([str(installed_program(sim).parent), *SYSTEM_PATH])
    authorized = (
        f"{role_authorized_keys(settings.sid_data)} {server_authorized_keys(settings.esd_data)}"
    )
    return "\n".join(
        [
            f"ListenAddress {address}:{port}",
            f"HostKey {host_key}",
            f"PidFile {ssh / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f'SetEnv "PATH={path}" "ATLAS_HA_CONFIG={settings.config_file}"',
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
