"""Samba on every namespace lab server, so the Verifier's smb kind meets a real smbd.

Two shares on the Unbound Data (the plugged disk, seen at the lab's common mount point in
each server's mount namespace): `files`, the office's public share (`guest ok = yes`), and
`private`, restricted to the verifier's account (a guest must be refused). Their definitions
are the OS's /etc/samba/smb.conf in each system root, written once when absent and then
synced from the PRI (the services file's `configs`), reloaded on a SEC after an Install with
`smbcontrol ... reload-config`. What names the server's own places (its address, its
private, lock, state and pid directories, its passdb) is Bound Data: a main configuration in
the server's run directory that includes the synced smb.conf. smbd runs in the foreground in
the server's namespaces as the lab's other daemons do, stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from atlas_ha.errors import ServerStateError
from atlas_ha.lab import host
from atlas_ha.layout.atomic import atomic_write

SMBD = Path("/usr/sbin/smbd")
SMBPASSWD = Path("/usr/bin/smbpasswd")
SMBCONTROL = Path("/usr/bin/smbcontrol")
SMB_CONF = "/etc/samba/smb.conf"  # Debian's place, in the system root (synced)
SECRET = "/etc/atlas-ha/secrets/smb"  # noqa: S105 (a path)
USER = "atlas-lab"  # the verifier's account: a unix user (.ci/setup) with a Samba password
PASSWORD = "smb-lab-password"  # noqa: S105 (the lab's own)
STATE_DIRS = ("private", "lock", "state", "cache", "pid", "ncalrpc")


def available() -> bool:
    if not (SMBD.exists() and SMBPASSWD.exists() and SMBCONTROL.exists()):
        return False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return False
    return True


def shares_conf(mountpoint: Path) -> str:
    return (
        "# the office's file shares (synced from the PRI; each server's own places are in\n"
        "# the main configuration of its run directory, which includes this file)\n"
        "[global]\n   server role = standalone server\n   map to guest = bad user\n"
        "   load printers = no\n   printcap name = /dev/null\n   disable spoolss = yes\n"
        "   disable netbios = yes\n"
        f"[files]\n   path = {mountpoint}/files\n   read only = no\n   guest ok = yes\n"
        f"[private]\n   path = {mountpoint}/private\n   read only = no\n"
        f"   valid users = {USER}\n"
    )


def main_conf(root: Path, state: Path, address: str) -> str:
    places = {
        "private dir": "private",
        "lock directory": "lock",
        "state directory": "state",
        "cache directory": "cache",
        "pid directory": "pid",
        "ncalrpc dir": "ncalrpc",
    }
    return (
        "[global]\n"
        f"   interfaces = {address}\n   bind interfaces only = yes\n   smb ports = 445\n"
        + "".join(f"   {key} = {state / sub}\n" for key, sub in places.items())
        + f"   passdb backend = tdbsam:{state / 'private' / 'passdb.tdb'}\n"
        f"   log file = {state / 'log.%m'}\n"
        f"   include = {root / SMB_CONF.lstrip('/')}\n"
    )


def start(anchor: int | None, root: Path, run: Path, address: str, mountpoint: Path) -> int:
    """smbd in the server's namespaces, its shares' directories on the plugged disk; the PID."""
    conf = root / SMB_CONF.lstrip("/")
    if not conf.exists():  # the OS's file: the PRI's copy replaces it at the first Install
        atomic_write(conf, shares_conf(mountpoint))
    secret = root / SECRET.lstrip("/")
    if not secret.exists():
        atomic_write(secret, PASSWORD + "\n", mode=0o600)
    user = pwd.getpwnam(USER)
    disk = root / str(mountpoint).lstrip("/")  # the plugged disk (services.mirror_mount)
    for share, owner in (("files", (0, 0)), ("private", (user.pw_uid, user.pw_gid))):
        (disk / share).mkdir(mode=0o755, exist_ok=True)
        os.chown(disk / share, *owner)  # SetUp's test file is owned like its share
    state = run / "samba"
    for sub in STATE_DIRS:
        (state / sub).mkdir(parents=True, exist_ok=True)
    main = state / "smb.conf"
    atomic_write(main, main_conf(root, state, address))
    done = subprocess.run(
        [str(SMBPASSWD), "-c", str(main), "-s", "-a", USER],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServerStateError(f"smbpasswd for {USER}: {done.stderr.decode(errors='replace')}")
    argv = [str(SMBD), "-F", "--no-process-group", "--debug-stdout", "-s", str(main)]
    return host.spawn(anchor, argv, run / "smbd.log", ready=b"started", what="smbd")


def services() -> str:
    """The file-sharing service of the namespace lab (when Samba is installed)."""
    if not available():
        return ""
    argv = [str(SMBCONTROL), "-s", "{root}/../run/samba/smb.conf", "smbd", "reload-config"]
    reload = ", ".join(f'"{a}"' for a in argv)
    return (
        "\n[service.files]\n"
        'kind = "smb"\n'
        f'configs = ["{SMB_CONF}"]\n'
        f"reload = [{reload}]\n"
        "[service.files.options]\n"
        f'user = "{USER}"\n'
        f'password_file = "{SECRET}"\n'
    )
