"""The `local` transport: partners on the same machine, reached through the filesystem.

A running server registers each address it answers on in the registry directory (a file
named after the address, holding the path of the server's settings file). Connecting to an
address starts `atlas-ha serve` under the partner's settings, exactly what the ssh
transport's forced command runs on a real partner; pushes are local rsync runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from atlas_ha.errors import ServerStateError, TransportError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.model import Partner
from atlas_ha.transport.base import Connection, Transport

RSYNC = [
    "rsync",
    "-a",
    "--delete",
    "--modify-window=-1",  # compare mtimes to the nanosecond: same-second edits count
    "--numeric-ids",
    "--exclude=/InvalidSend",
    "--exclude=/InvalidSnapshot",
    "--exclude=/InvalidVersions",
    "--exclude=.*.atlas-tmp.*",
]


class Registry:
    """Which settings file answers on which address (the lab-less 'network')."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lookup(self, address: str) -> Path | None:
        text = read_text_or_none(self.root / address)
        return Path(text.strip()) if text else None

    def register(self, address: str, config: Path) -> None:
        holder = self.lookup(address)
        if holder is not None and holder != config:
            raise ServerStateError(f"address {address} is already answered by {holder}")
        atomic_write(self.root / address, f"{config}\n")

    def unregister(self, config: Path) -> list[str]:
        gone = []
        for entry in sorted(self.root.glob("*")) if self.root.is_dir() else []:
            if self.lookup(entry.name) == config:
                entry.unlink()
                gone.append(entry.name)
        return gone


class LocalConnection(Connection):
    def __init__(self, role: str, address: str, config: Path, own_address: str) -> None:
        super().__init__(role, address)
        argv = [
            sys.executable,
            "-m",
            "atlas_ha",
            "--config",
            str(config),
            "serve",
            "--peer-address",
            own_address,
        ]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as exc:
            raise TransportError(f"{self.role} at {self.address}: connection lost: {exc}") from exc
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise TransportError(
                f"{self.role} at {self.address}: the partner's serve ended "
                f"without an answer: {err.strip()[-300:]}"
            )
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TransportError(f"{self.role} at {self.address}: malformed answer") from exc
        if not isinstance(answer, dict):
            raise TransportError(f"{self.role} at {self.address}: malformed answer")
        return self.raise_for(answer)

    def push(self, source: Path, dest: str) -> None:
        proc = subprocess.run(
            [*RSYNC, f"{source}/", f"{dest}/"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise TransportError(
                f"{self.role} at {self.address}: rsync exit "
                f"{proc.returncode}: {proc.stderr.strip()[-300:]}"
            )

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


class LocalTransport(Transport):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def connect(self, role: str, partner: Partner, own_address: str) -> Connection:
        config = self.registry.lookup(partner.address)
        if config is None:
            raise TransportError(f"{role} at {partner.address}: unreachable (no server answers)")
        return LocalConnection(role, partner.address, config, own_address)
