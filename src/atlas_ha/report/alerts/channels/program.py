"""The `program` channel: runs a command with the notification as JSON on its stdin.

    [channels.pager]
    type = "program"
    command = ["/usr/local/bin/page-admin", "--urgent"]
    timeout = 10

The program's stdout and stderr are captured into the delivery record (never inherited);
exit status 0 is success, anything else (or the timeout) a failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from atlas_ha.errors import ChannelError
from atlas_ha.report.alerts.channels.base import Channel
from atlas_ha.report.alerts.model import Notification

KEEP = 2000  # characters of output kept in the record


class ProgramChannel(Channel):
    def __init__(self, name: str, options: dict[str, Any], source: Path) -> None:
        super().__init__(name, options, source)
        self.known({"command", "timeout"})
        self.command = self.texts("command")
        self.timeout = self.number("timeout", 10.0)

    def send(self, notification: Notification) -> str:
        try:
            done = subprocess.run(
                self.command,
                input=notification.to_json().encode(),
                capture_output=True,
                timeout=self.timeout,
                close_fds=True,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ChannelError(
                f"{self.name}: {self.command[0]} timed out after {self.timeout:g} s"
                + _output(exc.stdout, exc.stderr)
            ) from exc
        except OSError as exc:
            raise ChannelError(f"{self.name}: cannot run {self.command[0]}: {exc}") from exc
        output = _output(done.stdout, done.stderr)
        if done.returncode != 0:
            raise ChannelError(f"{self.name}: {self.command[0]} exited {done.returncode}{output}")
        return f"{self.command[0]} exited 0{output}"


def _output(stdout: bytes | str | None, stderr: bytes | str | None) -> str:
    parts = []
    for label, raw in (("stdout", stdout), ("stderr", stderr)):
        if not raw:
            continue
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        parts.append(f"{label}: {text.strip()[:KEEP]}")
    return ("; " + "; ".join(parts)) if parts else ""
