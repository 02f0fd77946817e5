"""`atlas-ha daemon run|start|stop|restart|status`: the daemon by its PID file
(ESD_DATA/daemon.pid).

The PID file is Bound Data (the process belongs to the server, not to the disk). A PID is
only signalled after /proc/<pid>/cmdline shows it is an atlas-ha daemon, so a stale file
whose PID was reused by another program never gets that program killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.daemon.loop import REPLAN, Daemon, read_heartbeat, verifier_schedule
from atlas_ha.daemon.watch import ChangeWatch
from atlas_ha.daemon.web import status_page
from atlas_ha.doctor.checks import log_doctor
from atlas_ha.errors import ServerStateError, StillRunningError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.transport.keep import kept_connections


def pid_file(server: Server) -> Path:
    return server.esd.daemon_pid_file


def running_pid(server: Server) -> int | None:
    """The daemon's PID when it runs (checked against /proc), else None."""
    try:
        pid = int(pid_file(server).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    ours = b"atlas_ha" in b" ".join(argv) and b"daemon" in argv and b"run" in argv
    return pid if ours and state != "Z" else None


def claim(server: Server) -> None:
    """Called by `daemon run`: one daemon per server; record our PID."""
    other = running_pid(server)
    if other is not None and other != os.getpid():
        raise ServerStateError(f"a daemon runs already on {server.name} (pid {other})")
    atomic_write(pid_file(server), f"{os.getpid()}\n", mode=0o644)


def release(server: Server) -> None:
    if running_pid(server) == os.getpid():
        pid_file(server).unlink(missing_ok=True)


def run(
    server: Server,
    interval: float,
    stop: threading.Event,
    log: Callable[[str], None],
    with_verifier: bool = True,
    replan: float = REPLAN,
) -> None:
    """`daemon run`: claim the PID file (one daemon per server), run the SyncCycle loop and
    (unless told not to) the Verifier schedule until `stop` is set, release the PID file."""
    claim(server)
    try:
        log_doctor(server.settings.config_file, log)  # logged; it does not refuse (docs)
        verifier = verifier_schedule(server, log, replan) if with_verifier else None
        keep = kept_connections(server.settings, server.clock)
        wanted = server.settings.daemon
        watch = ChangeWatch(server, wanted.debounce, log) if wanted.watch else None
        with status_page(server, log):  # the status page, for as long as the daemon runs
            Daemon(server, interval, verifier, log=log, keep=keep, watch=watch).run(stop)
    finally:
        release(server)


def start(
    server: Server, interval: float | None, replan: float | None = None, timeout: float = 15.0
) -> int:
    if (pid := running_pid(server)) is not None:
        return pid
    logs = server.esd.logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(server.settings.config_file)]
    argv += ["daemon", "run", *(["--interval", f"{interval:g}"] if interval else [])]
    argv += ["--replan", f"{replan:g}"] if replan else []
    with (logs / "daemon.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    atomic_write(pid_file(server), f"{proc.pid}\n", mode=0o644)
    deadline = time.monotonic() + timeout
    while (read_heartbeat(server) or {}).get("pid") != proc.pid:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServerStateError(f"the daemon did not start (see {logs / 'daemon.log'})")
        time.sleep(0.05)
    return proc.pid


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(server: Server, timeout: float = 30.0) -> int | None:
    """SIGTERM (the daemon finishes its turn: a running cycle completes), then wait until the
    *process* has exited, not only its PID file (the daemon removes that before it is gone).
    Still running after `timeout`: StillRunningError (it is not killed: a cycle may be
    finishing; stop again, or wait)."""
    pid = running_pid(server)
    if pid is None:
        pid_file(server).unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            raise StillRunningError(
                f"daemon {pid} is still running {timeout:g} s after SIGTERM (a SyncCycle may "
                "be finishing); run `atlas-ha daemon stop` again or wait"
            )
        time.sleep(0.05)
    pid_file(server).unlink(missing_ok=True)
    return pid


def restart(server: Server, interval: float | None, replan: float | None = None) -> int:
    """Stop the daemon if it runs (its cycle finishes), start it again: the new PID."""
    stop(server)
    return start(server, interval, replan)


def status(server: Server) -> dict[str, Any]:
    beat = read_heartbeat(server) or {}
    now = server.clock.now()
    age = now - float(beat["heartbeat"]) if "heartbeat" in beat else None
    return {
        "running": running_pid(server) is not None,
        "pid": running_pid(server),
        "heartbeat_age": age,
        "sentence": beat.get("sentence"),
        "interval": beat.get("interval"),
    }
