"""What the lab tests check, shared: what the client sees, which host key answers, states."""

from __future__ import annotations

from typing import Any

from atlas_ha.lab import client, dns_mail, postgres, samba
from atlas_ha.lab.lab import ADDRESSES, CLIENT, Lab


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


def verify_rows(lab: Lab, name: str) -> dict[str, dict[str, Any]]:
    """One Verifier round (`atlas-ha verify run --json`) on server `name`, in its namespace:
    {service@target_role: result row}."""
    return {f"{r['service']}@{r['target_role']}": r for r in lab.verify(name)}


def verify_round(lab: Lab, name: str) -> dict[str, tuple[str, str]]:
    """{service@target_role: (status, summary)} of one round on server `name`."""
    return {
        check: (r["profile"]["status"], r["profile"]["summary"])
        for check, r in verify_rows(lab, name).items()
    }


def assert_all_ok(lab: Lab, *names: str) -> None:
    """SPEC 11: the Verifier reports every service OK on every running server."""
    for name in names:
        results = verify_round(lab, name)
        bad = {check: r for check, r in results.items() if r[0] != "OK"}
        assert not bad, f"{name}: {bad}"
        services = {check.split("@")[0] for check in results}
        expected = {"web", "db", "sentry", "ssh", "net"}
        expected |= {"dns", "mail", "sshport", "web-plugin", "host"}  # namespace lab extras
        if dns_mail.CHRONYD.exists():
            expected |= {"time", "time:config"}  # chronyd -p, the checker of its config
        if samba.available():
            expected.add("files")
        if postgres.available():
            expected.add("dbpage")
        assert services == expected, results
