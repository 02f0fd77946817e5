"""Network namespaces for the lab: a bridge in its own namespace, one namespace per host.

Safety (LAB-NOTES): the bridge lives in its own namespace, host namespaces get no default
route, and the root namespace gets `unreachable <subnet>` so that a command run there by
mistake towards a lab address can never leave the machine. All of it is removed at teardown.
"""

from __future__ import annotations

import contextlib
import ipaddress

from atlas_ha.errors import AtlasError, ServerStateError
from atlas_ha.system import Runner

SUBNET = "198.51.100.0/24"  # TEST-NET-2: never routed on the real network


class LabNet:
    def __init__(self, prefix: str, runner: Runner, subnet: str = SUBNET) -> None:
        self.prefix = prefix
        self.runner = runner
        self.subnet = ipaddress.ip_network(subnet)

    @property
    def bridge_ns(self) -> str:
        return f"{self.prefix}net"

    def ns(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def netns(self, host: str) -> str | None:
        """The network namespace of `host` (for status)."""
        return self.ns(host)

    def wrap(self, host: str, argv: list[str]) -> list[str]:
        """`argv` run on `host`'s network."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def ip(self, *args: str, check: bool = True) -> str:
        return self.runner.run(["ip", *args], check=check, timeout=30).stdout

    def exists(self) -> bool:
        return self.bridge_ns in self.ip("netns", "list").split()

    def create(self, hosts: list[str]) -> None:
        if self.exists():
            raise ServerStateError(f"lab network {self.bridge_ns} exists already (lab down first)")
        self.ip("route", "replace", "unreachable", str(self.subnet))
        self.ip("netns", "add", self.bridge_ns)
        self.ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        self.ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        self.ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for index, host in enumerate(hosts):
            self.add_host(host, index)

    def add_host(self, host: str, index: int) -> None:
        ns, port = self.ns(host), f"p{index}"
        self.ip("netns", "add", ns)
        self.ip(
            "link",
            "add",
            "eth0",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            self.bridge_ns,
        )
        self.ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        self.ip("-n", ns, "link", "set", "lo", "up")
        self.ip("-n", ns, "link", "set", "eth0", "up")

    def set_address(self, host: str, address: str, prefix: int) -> None:
        """Give `host` exactly this address and tell the neighbours (gratuitous ARP)."""
        if ipaddress.ip_address(address) not in self.subnet:
            raise ServerStateError(f"{address} is outside the lab subnet {self.subnet}")
        ns = self.ns(host)
        self.ip("-n", ns, "addr", "flush", "dev", "eth0")
        self.ip("-n", ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
        # gratuitous ARP so neighbours drop the old owner at once; without arping they learn
        # the address at their next ARP request
        # (arping keeps waiting for replies after sending; 0.2 s is enough to send two)
        argv = ["ip", "netns", "exec", ns, "timeout", "0.2", "arping", "-q", "-U", "-c", "2"]
        with contextlib.suppress(AtlasError):
            self.runner.run([*argv, "-I", "eth0", address], check=False, timeout=5)

    def clear_address(self, host: str) -> None:
        self.ip("-n", self.ns(host), "addr", "flush", "dev", "eth0", check=False)

    def addresses(self, host: str) -> list[str]:
        out = self.ip("-n", self.ns(host), "-o", "-4", "addr", "show", "dev", "eth0", check=False)
        return [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]

    def destroy(self) -> None:
        """Remove every namespace of this lab (found by prefix, so a lab whose state file
        was lost is still cleaned up) and the safety route."""
        for ns in self.ip("netns", "list").split():
            if ns.startswith(self.prefix):
                self.ip("netns", "del", ns, check=False)
        self.ip("route", "del", "unreachable", str(self.subnet), check=False)
