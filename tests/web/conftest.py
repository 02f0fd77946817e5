"""Fixtures of the web tests (tests/web/site.py: what they are made of)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.site import Listener, Served, Site, free_port, serve, web_section

from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.sync.cycle import cycle


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    group = SimGroup(tmp_path / "group", report=None)  # its tests write [report]
    group.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in group.servers:
        group.boot(name)
    port = free_port("127.0.2.11")
    services = group.servers["A"].file("/etc/atlas-ha/services.toml")
    services.parent.mkdir(parents=True, exist_ok=True)
    services.write_text(
        f'[service.app]\nkind = "tcp"\ntargets = "all"\ntimeout = 2\n'
        f"[service.app.thresholds]\nconnect = [0.5, 1.5]\n"
        f"[service.app.options]\nport = {port}\n"
    )
    result = Site(group, port)
    for role in ("PRI", "SEC1", "SEC2"):
        result.listeners[role] = Listener(ADDRESSES[role], port)
    cycle(result.pri())
    result.verify()
    result.beat()
    try:
        yield result
    finally:
        for listener in result.listeners.values():
            listener.stop()


@pytest.fixture
def page(site: Site) -> Iterator[Served]:
    """The PRI's page on 127.0.0.1 with alice (operator) and bob (viewer)."""
    server = site.configure(
        web_section(f"127.0.0.1:{free_port()}", {"alice": "operator", "bob": "viewer"})
    )
    served = serve(server)
    try:
        yield served
    finally:
        served.background.stop()
