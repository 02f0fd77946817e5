"""The lab's network without root: loopback addresses instead of namespaces.

Every 127.x address already reaches this machine, so "having" an address means binding the
server's daemons (sshd, nginx, PostgreSQL) to it, on unprivileged ports. Which server holds
which address is kept in DIR/loopnet.json; applying an identity moves the address there, and
a server that still holds it (not shut down) makes the move fail, as a duplicate address
would on a real network. Nothing of the machine's network configuration is touched.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from atlas_ha.errors import ServerStateError
from atlas_ha.layout.atomic import atomic_write

SUBNET = "127.0.1.0/24"


class LoopNet:
    def __init__(self, state: Path, prefix: str, subnet: str = SUBNET) -> None:
        self.state = state
        self.prefix = prefix
        self.subnet = ipaddress.ip_network(subnet)

    def _held(self) -> dict[str, str]:
        try:
            data = json.loads(self.state.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save(self, held: dict[str, str]) -> None:
        atomic_write(self.state, json.dumps(held, indent=1, sort_keys=True))

    def ns(self, host: str) -> str:
        return ""

    def netns(self, host: str) -> str | None:
        return None

    def wrap(self, host: str, argv: list[str]) -> list[str]:
        return list(argv)

    def exists(self) -> bool:
        return self.state.exists()

    def create(self, hosts: list[str]) -> None:
        if self.exists():
            raise ServerStateError(f"{self.state} exists already (lab down first)")
        self._save({})

    def set_address(self, host: str, address: str, prefix: int) -> None:
        if ipaddress.ip_address(address) not in self.subnet:
            raise ServerStateError(f"{address} is outside the loopback lab subnet {self.subnet}")
        held = self._held()
        owner = next((h for h, a in held.items() if a == address and h != host), None)
        if owner is not None:
            raise ServerStateError(f"{address} is held by {owner} (shut it down first)")
        held[host] = address
        self._save(held)

    def clear_address(self, host: str) -> None:
        held = self._held()
        if held.pop(host, None) is not None:
            self._save(held)

    def addresses(self, host: str) -> list[str]:
        address = self._held().get(host)
        return [address] if address else []

    def destroy(self) -> None:
        self.state.unlink(missing_ok=True)
