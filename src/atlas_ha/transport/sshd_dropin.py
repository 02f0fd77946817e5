"""The sshd drop-in `/etc/ssh/sshd_config.d/atlas-ha.conf` (`atlas-ha keys sshd-config`).

It only *adds* atlas-ha's authorized-keys files beside the usual ones::

    AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2 \
        SID_DATA/.ssh/authorized_keys ESD_DATA/ssh/authorized_keys     (on one line)

so the administrator's own keys keep working as before (a shell, with the server's own
PermitRootLogin). The restriction of atlas-ha's keys is in atlas-ha's own lines (`command=`,
`from=`, `restrict`: `transport.rolekeys`, `verifier.keys`), never in sshd's configuration:
no `Match` (Debian and RHEL include the drop-ins at the *top* of sshd_config, where a Match
would swallow every later directive of the main file), no `ForceCommand`, no
`PermitRootLogin`. sshd takes the first value of a keyword it reads, so the drop-in's
AuthorizedKeysFile wins over one set later in the main file: it lists sshd's defaults first.

When the role has a host key (`atlas-ha keys host-key`, `layout.sid.role_host_key`), it is
the first `HostKey`, followed by the server's own host keys that exist (sshd loads no default
key once a HostKey is named): the key answering at the role's address is the role's, and moves
with the disk. An administrator's known_hosts entry for the address changes once, to it.

`SetEnv` is written only when needed: the directory of the installed `atlas-ha` when it is
not on sshd's default PATH, and ATLAS_HA_CONFIG when the settings are not at the default
path (the forced command names neither). SetEnv applies to every session (the
administrator's too); a login shell's profile sets its own PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.esd import SSHD_DEFAULT_AUTHORIZED_KEYS, server_authorized_keys
from atlas_ha.layout.sid import role_authorized_keys, role_host_key
from atlas_ha.settings import DEFAULT_PATH, Settings
from atlas_ha.versions.links import stable_program

DROPIN_NAME = "atlas-ha.conf"
DROPIN_DIR = Path("/etc/ssh/sshd_config.d")
DEFAULT_AUTHORIZED_KEYS = SSHD_DEFAULT_AUTHORIZED_KEYS  # sshd's own, listed first
# the PATH Debian's and RHEL's sshd give a session (Debian adds /usr/games)
OWN_HOST_KEYS = ("ssh_host_ed25519_key", "ssh_host_ecdsa_key", "ssh_host_rsa_key")
SSHD_PATH = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")


def sshd_dropin(settings: Settings, program: Path | None = None) -> str:
    """The content of the drop-in for this server's settings (`program`: the installed
    atlas-ha, default `versions.links.stable_program`: ESD_DATA/bin/current/bin/atlas-ha
    when side-by-side versions are in use, so a switch or a rebuilt venv needs no new
    drop-in, else the console script beside this Python)."""
    program = program or stable_program(settings.esd_data)
    files = [
        *DEFAULT_AUTHORIZED_KEYS,
        str(role_authorized_keys(settings.sid_data)),
        str(server_authorized_keys(settings.esd_data)),
    ]
    for f in files:
        if any(c.isspace() or c in '"%' for c in f):
            raise SettingsError(
                f"{f}: an authorized-keys path with blanks, quotes or % "
                "cannot be named in sshd_config"
            )
    lines = [
        "# atlas-ha: written by `atlas-ha keys sshd-config` (docs/install.md, section 4).",
        "# Adds atlas-ha's authorized-keys files beside the usual ones; atlas-ha's keys are",
        "# restricted by their own lines (command=, from=, restrict). No Match block here:",
        "# this file is included at the top of sshd_config.",
        f"AuthorizedKeysFile {' '.join(files)}",
        "# a partner that vanished has its session ended within about a minute",
        "ClientAliveInterval 15",
        "ClientAliveCountMax 4",
    ]
    role_key = role_host_key(settings.sid_data)
    if role_key.exists():
        own = [settings.system_root / "etc/ssh" / k for k in OWN_HOST_KEYS]
        lines.append("# the role's host key first (it moves with the disk), then the server's own")
        lines += [f"HostKey {k}" for k in [role_key, *own] if k.exists()]
    env = []
    if str(program.parent) not in SSHD_PATH:
        env.append(f"PATH={':'.join([str(program.parent), *SSHD_PATH])}")
    if settings.config_file != DEFAULT_PATH:
        env.append(f"ATLAS_HA_CONFIG={settings.config_file}")
    if env:
        lines.append("# the forced command finds atlas-ha and its settings here")
        lines.append("SetEnv " + " ".join(f'"{e}"' for e in env))
    return "\n".join(lines) + "\n"


def write_sshd_dropin(settings: Settings, directory: Path = DROPIN_DIR) -> tuple[Path, bool]:
    """Write the drop-in into `directory` (atomically, mode 0644); return (its path, whether
    `sshd -t` checked it). When an sshd_config lies beside `directory` (/etc/ssh/sshd_config
    for the default) and sshd is installed, `sshd -t` checks the whole configuration with
    the drop-in; when it refuses, the earlier drop-in (or none) is put back and SettingsError
    names sshd's message: a configuration sshd refuses is never left for the next reload."""
    path = directory / DROPIN_NAME
    before = read_text_or_none(path)
    atomic_write(path, sshd_dropin(settings), mode=0o644)
    os.chmod(path, 0o644)
    main = directory.parent / "sshd_config"
    sshd = shutil.which("sshd") or shutil.which("sshd", path=":".join(SSHD_PATH))
    if not main.is_file() or sshd is None:
        return path, False
    checked = subprocess.run(
        [sshd, "-t", "-f", str(main)], capture_output=True, text=True, timeout=30, check=False
    )
    if checked.returncode != 0:
        if before is None:
            path.unlink()
        else:
            atomic_write(path, before, mode=0o644)
        said = " / ".join(checked.stderr.strip().splitlines()[-3:])
        raise SettingsError(f"{main}: `sshd -t` refuses it with {path}: {said}; not written")
    return path, True
