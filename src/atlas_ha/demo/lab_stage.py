"""The lab stage: the servers of lab/lab.py, each with its own address, sshd, nginx and
PostgreSQL (network namespaces as root, loopback addresses and unprivileged ports without),
syncing over OpenSSH + rsync; the client is the lab's client host, using the PRI address."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from atlas_ha.demo.stage import (
    ClientView,
    GroupView,
    Mail,
    PageView,
    Stage,
    VerifierRound,
    check_dir,
    clear_dir,
    group_view,
    identity_result,
    quiet,
)
from atlas_ha.lab import client, pages, postgres, smtp_sink
from atlas_ha.lab.lab import LOOPBACK, NETNS, PRI_DATA, Lab
from atlas_ha.report.web.actions import request_cycle
from atlas_ha.sync.identity import IdentityResult

RESTRICTED = "/private/payroll.html"  # the staff-only page (password protected)
PAGE_MODULES = ("starlette", "uvicorn", "jinja2")  # what the daemon's page needs
MAIL_WAIT = 60.0  # seconds for the daemon's next tick (5 s), its SyncCycle and alert round


def page_text(body: str) -> str:
    """The text of an HTML page, its parts joined by ' / '."""
    return " / ".join(t.strip() for t in re.split(r"<[^>]*>", body) if t.strip())


class LabStage(Stage):
    def __init__(self, base: Path, loopback: bool, down: bool = False) -> None:
        self.base = base.resolve()
        self.mode = LOOPBACK if loopback else NETNS
        self.down = down
        self.lab = Lab(self.base, loopback=loopback)
        self.previous = self.lab.state_file.exists()
        super().__init__(self.lab.group, self.lab)
        self.kind = "loopback lab" if loopback else "namespace lab"
        if loopback:
            # the synced site and services file carry no per-server ports there (several
            # servers share one host), so the http and PostgreSQL checks would look elsewhere
            self.no_verifier = "the Verifier rounds run in the namespace lab only"

    def intro(self) -> list[str]:
        lines = []
        if self.previous:
            lines.append(f"(the previous lab in {self.base} is taken down first)")
        if self.mode is LOOPBACK:
            used = ", ".join(self.mode.addresses[r] for r in ("PRI", "SEC1", "SEC2"))
            why = "not root" if os.geteuid() != 0 else "--loopback"
            lines.append(
                f"Note: no network namespaces ({why}): the servers use loopback addresses "
                f"{used} and unprivileged ports (ssh {self.mode.ssh_port}, http "
                f"{self.mode.http_port}, PostgreSQL {self.mode.pg_port}). The Verifier rounds "
                "run in the namespace lab only (run the demo as root)."
            )
            where = "on its own loopback address"
        else:
            where = "in its own network namespace"
        lines.append(
            f"Stage: the lab in {self.base}. Three servers, each {where} with sshd, nginx and "
            "PostgreSQL and a sync runner, syncing over OpenSSH + rsync. A client host uses "
            f"the PRI address {self.mode.addresses['PRI']}: its web page, a staff-only page "
            "and the customers table of the database show which server it reaches."
        )
        lines.append(
            "Status pages: every server's daemon serves its page "
            + (
                "on a port of its own on 127.0.0.1 (8471, 8472, 8473)"
                if self.mode is LOOPBACK
                else "on port 8470 of its own network namespace (from the client host: "
                f"http://{self.mode.addresses['PRI']}:8470/ is the PRI's)"
            )
            + f", opened with the lab's token ({self.lab.report_auth_file}); how to open "
            "each from this host is shown once the servers are up."
        )
        sink = smtp_sink.maildir(self.lab.sink_dir)
        lines.append(
            f"Alerts: the PRI's alert rules (/etc/atlas-ha/alerts.toml, synced) mail "
            f"{smtp_sink.RECIPIENT} through the lab's SMTP sink on the client host "
            f"({self.mode.client[1]}:{self.mode.sink_port}, aiosmtpd), which keeps every "
            f"message in {sink}."
        )
        return lines

    def set_up(self, layout: dict[str, tuple[int, str]]) -> dict[str, IdentityResult]:
        check_dir(self.base, Lab.ENTRIES)
        if self.previous:
            self.lab.down()
        clear_dir(self.base, Lab.ENTRIES)
        self.lab = Lab(self.base, loopback=self.mode is LOOPBACK)
        self.group, self.hardware = self.lab.group, self.lab
        envs = {name: env for name, (env, _role) in layout.items()}
        roles = {name: role for name, (_env, role) in layout.items()}
        booted = self.lab.up(envs, roles)
        return {name: identity_result(result) for name, result in booted.items()}

    def boot(self, name: str) -> IdentityResult:
        return identity_result(self.lab.boot_result(name))

    def cycle(self, name: str) -> dict[str, Any]:
        return self.lab.cycle(name)

    def compare(self, name: str) -> list[dict[str, Any]]:
        return self.lab.compare(name)

    def send_own(self, name: str) -> None:
        self.lab.send_own(name)

    def power(self, name: str) -> tuple[bool, str | None]:
        info = self.lab.servers()[name]
        return info["state"] == "up", info.get("address")

    def client(self) -> ClientView:
        pri = self.lab.addresses["PRI"]
        status, _header, body = client.http(self.lab, pri)
        page = f'page "{page_text(body)}"' if status == 200 else f"no page (HTTP {status})"
        restricted = client.http(self.lab, pri, RESTRICTED)[0]
        refused = restricted in (401, 403)
        staff = (
            f"staff page refused without the password (HTTP {restricted})"
            if refused
            else f"staff page: HTTP {restricted} (expected 401 without the password)"
        )
        sees, rows_ok = [page, staff], True
        if postgres.available():
            code, rows, err = client.sql(self.lab, pri, "SELECT name FROM customers ORDER BY id")
            rows_ok = code == 0 and rows == list(postgres.ROWS)
            sees.append(f"database rows {rows}" if code == 0 else f"no database ({err[:60]})")
        ok = status == 200 and PRI_DATA in body and refused and rows_ok
        return ClientView(pri, self.pri_holder(), tuple(sees), ok)

    def pages(self) -> list[PageView]:
        """Each server's status page: how to open it, and what it answers (with the lab's
        token and without)."""
        missing = [m for m in PAGE_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            self.no_page = f"not served: {', '.join(missing)} not installed for {sys.executable}"
        views = []
        for name in self.group.servers:
            access = pages.access(self.lab, name)
            if self.no_page:
                views.append(PageView(name, access, 0, 0))
                continue
            views.append(
                PageView(
                    name,
                    access,
                    pages.fetch(self.lab, name)[0],
                    pages.fetch(self.lab, name, token=False)[0],
                )
            )
        return views

    def status(self, name: str) -> GroupView:
        """`atlas-ha status --json` on server `name`, in its network: its status model."""
        data = json.loads(self.lab.atlas(name, ["status", "--json"]).stdout)
        return group_view(name, data["report"])

    @property
    def no_mail(self) -> str:  # type: ignore[override]
        if self.lab.state.get("sink_pid"):
            return ""
        return "the lab runs no SMTP sink (it needs aiosmtpd: python3-aiosmtpd)"

    def alerts(self, pri: str, about: str) -> list[Mail]:
        """The PRI's daemon is asked for a SyncCycle now (as the page's button does); its
        alert round after it mails the sink: what arrived since, up to a message naming
        `about` (or MAIL_WAIT)."""
        if self.no_mail:
            return []
        seen = {m.key for m in smtp_sink.received(self.lab.sink_dir)}
        request_cycle(self.group.servers[pri].server(quiet), "the demo")  # the page's button
        deadline = time.monotonic() + MAIL_WAIT
        while True:
            new = [m for m in smtp_sink.received(self.lab.sink_dir) if m.key not in seen]
            if any(about in m.subject for m in new) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return [Mail(m.sender, m.recipients, m.subject, tuple(m.first_lines())) for m in new]

    def verifier(self) -> list[VerifierRound]:
        if self.no_verifier:
            return []
        rounds = []
        for name in self.group.servers:
            up, _address = self.power(name)
            if not up:
                continue
            rows = self.lab.verify(name)
            bad = tuple(
                (
                    f"{r['service']}@{r['target_role']}",
                    r["profile"]["status"],
                    r["profile"]["summary"],
                )
                for r in rows
                if r["profile"]["status"] != "OK"
            )
            role = self.group.servers[name].server(quiet).role()
            rounds.append(VerifierRound(name, role, len(rows), bad))
        return rounds

    def finish(self, failed: bool) -> list[str]:
        if not self.lab.state_file.exists():
            return []  # no lab was set up
        lab = f"atlas-ha lab --dir {self.base}"
        if self.down:
            self.lab.down()
            return ["All lab servers are stopped: lab taken down."]
        if failed:
            return [f"The lab is left up to look into: {lab} status; take it down: {lab} down"]
        return [
            "The lab stays up for exploring, for instance:",
            f"  {lab} status",
            f"  {lab} exec C -- atlas-ha status",
            f"  {pages.access(self.lab, 'C')}",
            f"  {lab} exec C -- ip -4 addr",
            f"Take it down with: {lab} down",
        ]
