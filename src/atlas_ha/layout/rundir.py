"""Runtime files of this server's processes: `ESD_DATA/run/` (Bound Data, never synced).

    ESD_DATA/run/<program>.pid          the PID of the running instance of a program that runs
                                         once at a time (ops/start.py)
    ESD_DATA/run/ssh.<PID>.<random>/    one ssh connection of process PID: its ControlMaster
        m                                 socket (ControlPath) and
        ssh.log                           what ssh itself said (`ssh -E`): errors, timeouts

A connection removes its directory when it is closed. A process killed before that (a cycle
SIGKILLed, a power cut) leaves it behind: the next connection any process of this server
opens removes the directories of processes that are no longer alive, never one of a live
process. A unix socket's path is limited (108 bytes, and ssh appends 17 characters to the
master's socket while it binds it): when ESD_DATA is too deep for that, the directories go
in `$TMPDIR/atlas-ha-<uid>/` instead (private to this user, checked before use), swept alike.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

from atlas_ha.errors import ServerStateError
from atlas_ha.layout.tempnames import alive

SOCKET = "m"  # the ControlPath inside a connection's directory
LOG = "ssh.log"  # ssh -E: ssh's own messages (the backgrounded master's included)
CONTROL_RE = re.compile(r"^ssh\.(?P<pid>[1-9][0-9]*)\.[A-Za-z0-9_]+$")
# sun_path holds 107 characters; ssh binds the master's socket as "<ControlPath>.<16 random>"
SOCKET_PATH_MAX = 107 - 17
# "/ssh.<pid up to 7 digits>.<8 random>/m"
CONTROL_NAME_MAX = len("/ssh.4194304.abcdefgh/") + len(SOCKET)


def run_dir(esd_data: Path) -> Path:
    return esd_data / "run"


def program_pid_file(esd_data: Path, program: str) -> Path:
    """The PID file of `program`'s running instance (ops/start.py)."""
    if not re.match(r"^[a-z][a-z0-9-]*$", program):
        raise ServerStateError(f"{program!r}: not a program name")
    return run_dir(esd_data) / f"{program}.pid"


def control_base(esd_data: Path) -> Path:
    """Where this server's ssh connections keep their directories (see the module doc)."""
    base = run_dir(esd_data)
    if len(str(base)) + CONTROL_NAME_MAX <= SOCKET_PATH_MAX:
        return base
    return Path(tempfile.gettempdir()) / f"atlas-ha-{os.geteuid()}"


def new_control_dir(esd_data: Path) -> Path:
    """A new private directory for one connection of this process, after removing those
    that dead processes left."""
    base = control_base(esd_data)
    _private_dir(base)
    sweep_control_dirs(base)
    return Path(tempfile.mkdtemp(prefix=f"ssh.{os.getpid()}.", dir=base))


def sweep_control_dirs(base: Path) -> list[str]:
    """Remove the connection directories in `base` whose process is not alive."""
    removed: list[str] = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = CONTROL_RE.match(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and not alive(int(match["pid"])):
            remove_control_dir(Path(entry.path))
            removed.append(entry.name)
    return removed


def remove_control_dir(path: Path) -> None:
    """Remove a connection's directory: its socket(s) and log, then the directory."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            if not entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    Path(entry.path).unlink()
    with contextlib.suppress(FileNotFoundError, OSError):
        path.rmdir()


def _private_dir(path: Path) -> None:
    """`path` exists as a directory of ours, mode 0700, not a symlink (in a shared /tmp
    another user could have made it first)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise ServerStateError(f"{path}: not a directory of this user (refusing to use it)")
    if stat.S_IMODE(st.st_mode) & 0o077:
        path.chmod(0o700)
