"""Network namespaces for the lab: a bridge in its own namespace, one namespace per host.

Safety (LAB-NOTES): the bridge lives in its own namespace, host namespaces get no default
route, and the root namespace gets `unreachable <subnet>` so that a command run there by
mistake towards a lab address can never leave the machine. Several labs may be up at once
(each its own namespaces, found by prefix); the route of a subnet is shared by the labs on it
and removed when the last of them is taken down. Which subnet a lab uses is written on its
bridge (the link alias of br0, "atlas-ha-lab SUBNET"), so it lives and goes with the lab's
namespaces: a lab whose controlling process was killed keeps the route while its namespaces
exist, and no longer once they are gone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re

from atlas_ha.errors import AtlasError, ServerStateError
from atlas_ha.system import Runner

SUBNET = "198.51.100.0/24"  # TEST-NET-2: never routed on the real network
ALIAS = "atlas-ha-lab"  # the bridge's link alias: "atlas-ha-lab <subnet>"
BRIDGE_NS = re.compile(r"^ah[0-9a-f]{4}-net$")  # a lab's bridge namespace (Lab's prefix + net)


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
        self.ip("-n", self.bridge_ns, "link", "set", "br0", "alias", f"{ALIAS} {self.subnet}")
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
        for ns in self.namespaces():
            if ns.startswith(self.prefix):
                self.ip("netns", "del", ns, check=False)
        if not self.others_on_subnet():
            self.ip("route", "del", "unreachable", str(self.subnet), check=False)

    def namespaces(self) -> list[str]:
        """The names of every network namespace (`ip netns list`: NAME [(id: N)] a line)."""
        return [line.split()[0] for line in self.ip("netns", "list").splitlines() if line.strip()]

    def others_on_subnet(self) -> list[str]:
        """The bridge namespaces of other labs that are up on this lab's subnet. A bridge
        without the alias (made by an older atlas-ha) counts as being on the default subnet."""
        found = []
        for ns in self.namespaces():
            if ns == self.bridge_ns or not BRIDGE_NS.match(ns):
                continue
            link = self.ip("-n", ns, "-d", "link", "show", "br0", check=False)
            words = link.split()
            marked = words[words.index("alias") + 1 :] if "alias" in words else []
            subnet = marked[1] if marked[:1] == [ALIAS] and len(marked) > 1 else SUBNET
            if subnet == str(self.subnet):
                found.append(ns)
        return found
