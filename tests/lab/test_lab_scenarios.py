"""SPEC 11 across network namespaces: every server its own namespace, address and sshd; the
ssh transport between them; disks moved between servers; the client follows the PRI address."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from tests.lab.common import (
    assert_all_ok,
    assert_pri_serves_client_data,
    keyscan_from_client,
    role_key,
    states,
    verify_round,
)

from atlas_ha.lab import client
from atlas_ha.lab.lab import ADDRESSES, Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def role_authority(lab: Lab) -> dict[str, str]:
    """Every file of each disk's ssh authority (its role's key, the partner roles' keys it
    accepts) with its content hash: a disk swap must change none of them (no re-keying)."""
    found = {}
    for path in sorted((lab.base / "disks").glob("*/SID_DATA/.ssh/*")):
        found[str(path.relative_to(lab.base))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def role_key_fingerprint(lab: Lab, disk: str) -> str:
    pub = lab.base / "disks" / disk / "SID_DATA/.ssh/id_ed25519.pub"
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
    return out.stdout.split()[1]


def test_scenarios_across_namespaces(lab: Lab) -> None:
    authority = role_authority(lab)
    assert len(authority) == 9, sorted(authority)  # per disk: its key pair, authorized_keys
    assert lab.net.addresses("A") == [ADDRESSES["PRI"]]
    assert states(lab.cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    assert_all_ok(lab, "A", "B", "C")  # every service, every server, across Env1/2/3
    # a configuration change on the PRI reaches every SEC, whose nginx is reloaded
    site = lab.group.servers["A"].file("/etc/nginx/sites-enabled/www")
    site.write_text(
        site.read_text().replace("listen 80;", "listen 80;\n    add_header X-Atlas v2;")
    )
    # ... and so does its PostgreSQL configuration, each SEC in its own environment's place
    pg_conf = lab.group.servers["A"].file("/etc/postgresql/15/main/postgresql.conf")
    pg_conf.write_text(pg_conf.read_text() + "work_mem = '7MB'\n")
    assert client.sql(lab, ADDRESSES["SEC1"], "SHOW work_mem")[1] == ["4MB"]  # the default
    assert states(lab.cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    b_conf = lab.group.servers["B"].file("/var/lib/pgsql/data/postgresql.conf")  # Env1: PGDATA
    assert "work_mem = '7MB'" in b_conf.read_text()
    c_conf = lab.group.servers["C"].file("/etc/postgresql/15/main/postgresql.conf")
    assert c_conf.read_text() == pg_conf.read_text()
    for sec in ("SEC1", "SEC2"):
        status, header, body = client.http(lab, ADDRESSES[sec])
        assert (status, header) == (200, "v2") and f"skeleton of the {sec} disk" in body
        assert client.http(lab, ADDRESSES[sec], "/private/payroll.html")[0] in (401, 403)
        # the SEC's postmaster was reloaded with the synced configuration
        assert client.sql(lab, ADDRESSES[sec], "SHOW work_mem")[1] == ["7MB"]
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
    c_log = lab.group.servers["C"].base / "sshd.log"
    seen = len(c_log.read_text())
    report = lab.cycle("B")
    assert states(report) == {"SEC1": "stale", "SEC2": "equal"}
    sec1 = next(s for s in report["secs"] if s["sec"] == "SEC1")
    assert not sec1["reached"]
    # SEC2 let B in with the PRI role's key, which came with A's disk: no re-keying
    # (sshd: "Accepted key ED25519 SHA256:... found at FILE:LINE"; the rest are Verifier keys)
    new_log = c_log.read_text()[seen:].splitlines()
    accepted = [line for line in new_log if "found at" in line and "/.ssh/authorized_keys" in line]
    pri_key = role_key_fingerprint(lab, "disk-A")
    assert accepted and all(pri_key in line for line in accepted), accepted
    # the running servers are verified OK; the PRI reports the SEC1 that is down
    assert_all_ok(lab, "C")
    on_b = verify_round(lab, "B")
    assert all(st == "OK" for check, (st, _s) in on_b.items() if check.endswith("@SEC2"))
    assert on_b["web@SEC1"][0] == on_b["sentry@PRI"][0] == "CRITICAL"
    # Scenario 2: B's old disk (SEC1) goes into A
    lab.plug(disk_b, "A")
    lab.boot("A")
    assert lab.net.addresses("A") == [ADDRESSES["SEC1"]]
    assert states(lab.cycle("B")) == {"SEC1": "equal", "SEC2": "equal"}
    assert_all_ok(lab, "A", "B", "C")
    # Scenario 3: B and C swap: C (Env3) becomes PRI via on-demand conversion
    lab.swap("B", "C")
    assert lab.net.addresses("C") == [ADDRESSES["PRI"]]
    assert lab.net.addresses("B") == [ADDRESSES["SEC2"]]
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    report = lab.cycle("C")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert all(c["env"] == 3 for c in report["compare"])
    assert_all_ok(lab, "A", "B", "C")
    # every server runs its sync runner (the daemon), alive and telling what it decided
    for name in ("A", "B", "C"):
        config = str(lab.group.servers[name].config)
        argv = [sys.executable, "-m", "atlas_ha", "--config", config, "daemon", "status"]
        out = lab.exec(name, argv)
        assert out.returncode == 0 and "first SyncCycle decision in 300 s" in out.stdout, out
    status = lab.status()
    roles = {s["name"]: (s["role"], s["disk"], s["address"]) for s in status["servers"]}
    assert roles == {
        "A": ("SEC1", "disk-B", ADDRESSES["SEC1"]),
        "B": ("SEC2", "disk-C", ADDRESSES["SEC2"]),
        "C": ("PRI", "disk-A", ADDRESSES["PRI"]),
    }
    assert role_authority(lab) == authority  # the authority moved with the disks, unchanged
