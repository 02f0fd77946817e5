"""The simulation stage: three servers on the filesystem only (lab/group.py), reached through
the local transport, in this process. No services run: the client view is the identity and
configuration a client would get from the server holding the PRI address."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.demo.stage import ClientView, GroupView, Stage, clear_dir, group_view, quiet
from atlas_ha.errors import AtlasError
from atlas_ha.lab.group import HOSTNAMES, SimGroup
from atlas_ha.report.view import group_status
from atlas_ha.settings import DEFAULT_LISTEN
from atlas_ha.sync.compare import compare
from atlas_ha.sync.convert import convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.identity import IdentityResult
from atlas_ha.sync.send import send_to_partners

APP_CONF = "/etc/app/app.conf"  # the configuration file the client view shows


class SimStage(Stage):
    kind = "simulation"
    no_verifier = "the simulation runs no services to check; the namespace lab does"

    def __init__(self, base: Path, down: bool = False) -> None:
        group = SimGroup(base, report=None)  # the real default: `report serve` works
        super().__init__(group, group)
        self.down = down

    def intro(self) -> list[str]:
        base = self.group.base
        return [
            f"Stage: a simulation in {base}. Three servers on the filesystem only, each with "
            "its own system root, Bound Data and a plugged-in Unbound Data disk (a directory "
            "under disks/), talking through the local transport. No services run: the client "
            "view shows the identity and configuration a client would get from the server "
            "holding the PRI address, and the Verifier is not run (the namespace lab, "
            "`sudo atlas-ha demo`, runs real sshd, nginx and PostgreSQL).",
            "Status page: no daemon runs in the simulation, so none is served while it plays; "
            "after each act the PRI's go/no-go banner and the readiness of each SEC are shown "
            "from its status model (what `atlas-ha status` shows; without a daemon its `atlas` "
            "cell is UNKNOWN, so the banner is never GO here). Afterwards "
            f"`atlas-ha --config {self.group.base}/servers/C/atlas-ha.toml report serve` "
            f"serves the last PRI's page on http://{DEFAULT_LISTEN}/.",
        ]

    def server(self, name: str) -> Server:
        return self.group.servers[name].server(quiet)

    def set_up(self, layout: dict[str, tuple[int, str]]) -> dict[str, IdentityResult]:
        clear_dir(self.group.base, SimGroup.ENTRIES)
        self.group.build(layout)
        return {name: self.boot(name) for name in self.group.servers}

    def boot(self, name: str) -> IdentityResult:
        return self.group.boot(name, quiet)

    def cycle(self, name: str) -> dict[str, Any]:
        return cycle(self.server(name)).as_dict()

    def compare(self, name: str) -> list[dict[str, Any]]:
        return [c.as_dict() for c in compare(self.server(name))]

    def send_own(self, name: str) -> None:
        server = self.server(name)
        create(server)
        convert_to_older(server, server.role(), server.env_id)
        for outcome in send_to_partners(server).values():
            if isinstance(outcome, AtlasError):
                raise outcome

    def power(self, name: str) -> tuple[bool, str | None]:
        addresses = self.group.addresses_of(name)
        return bool(addresses), (addresses[0] if addresses else None)

    def client(self) -> ClientView:
        pri = self.group.addresses["PRI"]
        holder = self.pri_holder()
        if holder is None:
            return ClientView(pri, None, (), False)
        ident = self.group.installed_identity(holder)
        conf = self.read(holder, APP_CONF).strip()
        sees = (f"host name {ident.hostname}", f"{APP_CONF} {conf!r}")
        return ClientView(pri, holder, sees, ident.hostname == HOSTNAMES["PRI"])

    def status(self, name: str) -> GroupView:
        """The status model of `name` (report.loader + report.model, as `atlas-ha status`)."""
        return group_view(name, group_status(self.server(name)).to_dict())

    def finish(self, failed: bool) -> list[str]:
        base = self.group.base
        if not self.group.servers:
            return []  # no group was set up
        if self.down and not failed:
            shutil.rmtree(base)
            return [f"The simulated group in {base} is removed (--down)."]
        servers = self.group.servers
        return [
            f"The simulated group stays in {base} for exploring, for instance:",
            f"  atlas-ha --config {servers['C'].config} status",
            f"  atlas-ha --config {servers['A'].config} history {APP_CONF}",
        ]
