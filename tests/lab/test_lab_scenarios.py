"""SPEC 11 across network namespaces: every server its own namespace, address and sshd; the
ssh transport between them; disks moved between servers; the client follows the PRI address."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_ha.lab import client, postgres
from atlas_ha.lab.lab import ADDRESSES, CLIENT, Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def lab() -> Iterator[Lab]:
    if (
        os.geteuid() != 0
        or not shutil.which("ip")
        or not Path("/usr/sbin/sshd").exists()
        or not Path("/usr/sbin/nginx").exists()
    ):
        pytest.skip("needs root, iproute2 and OpenSSH's sshd")
    # Not under pytest's tmp root: pytest resets that to 0700 at every session start, and the
    # postgres user must traverse to each disk's cluster (as it can under /var/tmp).
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-lab-test-", dir="/var/tmp"))
    base.chmod(0o755)
    lab = Lab(base / "lab")
    try:
        lab.up({"A": 2, "B": 1, "C": 3}, {"A": "PRI", "B": "SEC1", "C": "SEC2"})
        yield lab
    finally:
        lab.down()
        shutil.rmtree(base)
    assert not lab.net.exists()  # cleanup really happened


def states(report: dict[str, Any]) -> dict[str, str]:
    return {c["sec"]: c["state"] for c in report["compare"]}


def keyscan_from_client(lab: Lab) -> str:
    """The host key that answers on the PRI address, as the client sees it."""
    out = lab.runner.run(
        [
            "ip",
            "netns",
            "exec",
            lab.net.ns(CLIENT[0]),
            "ssh-keyscan",
            "-T",
            "5",
            "-t",
            "ed25519",
            ADDRESSES["PRI"],
        ],
        check=False,
        timeout=20,
    )
    return out.stdout.split()[-1] if out.stdout.strip() else ""


PRI_PAGE = "client data on the PRI's disk"


def assert_pri_serves_client_data(lab: Lab) -> None:
    """The client, using the PRI address, gets the PRI's pages and database rows."""
    status, _header, body = client.http(lab, ADDRESSES["PRI"])
    assert status == 200 and PRI_PAGE in body
    assert client.http(lab, ADDRESSES["PRI"], "/private/payroll.html")[0] in (401, 403)
    code, rows, err = client.sql(lab, ADDRESSES["PRI"], "SELECT count(*) FROM customers")
    assert (code, rows) == (0, [str(len(postgres.ROWS))]), err
    code, rows, err = client.sql(lab, ADDRESSES["PRI"], "SELECT name FROM customers ORDER BY id")
    assert rows == list(postgres.ROWS), err


def role_key(lab: Lab, disk: str) -> str:
    return (lab.base / "disks" / disk / "ssh/host_ed25519.pub").read_text().split()[1]


def test_scenarios_across_namespaces(lab: Lab) -> None:
    assert lab.net.addresses("A") == [ADDRESSES["PRI"]]
    assert states(lab.cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    # a configuration change on the PRI reaches every SEC, whose nginx is reloaded
    site = lab.group.servers["A"].file("/etc/nginx/sites-enabled/www")
    site.write_text(
        site.read_text().replace("listen 80;", "listen 80;\n    add_header X-Atlas v2;")
    )
    assert states(lab.cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for sec in ("SEC1", "SEC2"):
        status, header, body = client.http(lab, ADDRESSES[sec])
        assert (status, header) == (200, "v2") and f"skeleton of the {sec} disk" in body
        assert client.http(lab, ADDRESSES[sec], "/private/payroll.html")[0] in (401, 403)
        # a SEC's disk holds no client data: its database has no customers table
        code, _rows, err = client.sql(lab, ADDRESSES[sec], "SELECT count(*) FROM customers")
        assert code != 0 and "customers" in err
    # Scenario 1: A's disk goes into B; B answers on the PRI address with the PRI's host key
    lab.shutdown("A", "B")
    disk_a, disk_b = lab.unplug("A"), lab.unplug("B")
    lab.plug(disk_a, "B")
    lab.boot("B")
    assert lab.net.addresses("B") == [ADDRESSES["PRI"]]
    assert lab.installed_identity("B").address == ADDRESSES["PRI"]
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    report = lab.cycle("B")
    assert states(report) == {"SEC1": "stale", "SEC2": "equal"}
    sec1 = next(s for s in report["secs"] if s["sec"] == "SEC1")
    assert not sec1["reached"]
    # Scenario 2: B's old disk (SEC1) goes into A
    lab.plug(disk_b, "A")
    lab.boot("A")
    assert lab.net.addresses("A") == [ADDRESSES["SEC1"]]
    assert states(lab.cycle("B")) == {"SEC1": "equal", "SEC2": "equal"}
    # Scenario 3: B and C swap: C (Env3) becomes PRI via on-demand conversion
    lab.swap("B", "C")
    assert lab.net.addresses("C") == [ADDRESSES["PRI"]]
    assert lab.net.addresses("B") == [ADDRESSES["SEC2"]]
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    report = lab.cycle("C")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert all(c["env"] == 3 for c in report["compare"])
    status = lab.status()
    roles = {s["name"]: (s["role"], s["disk"], s["address"]) for s in status["servers"]}
    assert roles == {
        "A": ("SEC1", "disk-B", ADDRESSES["SEC1"]),
        "B": ("SEC2", "disk-C", ADDRESSES["SEC2"]),
        "C": ("PRI", "disk-A", ADDRESSES["PRI"]),
    }
