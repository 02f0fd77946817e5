"""`atlas-ha verify run|list|results` and `atlas-ha services detect` as a user runs them, on a
simulated group (A Env2 PRI, B Env1 SEC1, C Env3 SEC2) whose addresses are on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.verifier.conftest import Hanging

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle
from atlas_ha.verifier.services import SERVICES_PATH, parse

ADDRESSES = {"PRI": "127.77.0.11", "SEC1": "127.77.0.12", "SEC2": "127.77.0.13"}


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def lgroup(tmp_path: Path) -> SimGroup:
    g = SimGroup(tmp_path / "group", addresses=ADDRESSES)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    return g


@pytest.fixture
def sec1_port() -> Iterator[int]:
    """A TCP service answering on SEC1's address only (SEC2's port is closed)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ADDRESSES["SEC1"], 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def cli(group: SimGroup, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(group.servers[name].config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def write_services(group: SimGroup, text: str) -> None:
    for sim in group.servers.values():
        path = sim.file(SERVICES_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def proc_fixture(base: Path) -> Path:
    proc = base / "proc"
    proc.mkdir()
    (proc / "loadavg").write_text("0.10 0.20 0.30 1/100 4242\n")
    (proc / "cpuinfo").write_text("processor\t: 0\nprocessor\t: 1\n")
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 500 kB\nMemAvailable: 800 kB\n")
    return proc


@pytest.mark.slow
def test_verify_run_list_results_on_pri_and_sec(
    lgroup: SimGroup, sec1_port: int, tmp_path: Path
) -> None:
    hung = Hanging(ADDRESSES["SEC1"])
    proc = proc_fixture(tmp_path)
    write_services(
        lgroup,
        f"""
[defaults]
timeout = 2
[results]
keep_rows = 2
[service.web]
kind = "tcp"
[service.web.options]
port = {sec1_port}
[service.hung]
kind = "tcp"
timeout = 1
[service.hung.options]
port = {hung.port}
expect = "220"
host = "{ADDRESSES["SEC1"]}"
[service.plugin]
kind = "nagios"
[service.plugin.options]
command = ["check_tcp", "-H", "{{address}}", "-p", "{sec1_port}"]
[service.health]
kind = "health"
thresholds = {{ free = [0, -1] }}
[service.health.options]
proc = "{proc}"
""",
    )
    fresh = json.loads(cli(lgroup, "A", "verify", "list", "--json").stdout)
    assert [c["env"] for c in fresh["services"][0]["checks"]] == [None, None]  # no snapshot yet
    assert cycle(lgroup.servers["A"].server(quiet)).all_equal
    listed = cli(lgroup, "A", "verify", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    services = {s["service"]: s for s in json.loads(listed.stdout)["services"]}
    assert [c["target"] for c in services["web"]["checks"]] == ["SEC1", "SEC2"]
    assert services["web"]["checks"][0]["env"] == 1 and services["web"]["checks"][1]["env"] == 3
    assert services["health"]["targets"] == "self"
    assert services["health"]["checks"] == [{"target": "PRI", "address": "127.77.0.11", "env": 2}]
    on_sec2 = json.loads(cli(lgroup, "C", "verify", "list", "--json").stdout)
    assert on_sec2["services"][0]["checks"] == [
        {"target": "PRI", "address": "127.77.0.11", "env": 2}
    ]

    run = cli(lgroup, "A", "verify", "run", "--json")
    assert run.returncode == 22, run.stderr  # worst CRITICAL
    out = json.loads(run.stdout)
    got = {f"{r['service']}@{r['target_role']}": r["profile"] for r in out["results"]}
    assert out["status"] == "CRITICAL"
    assert got["web@SEC1"]["status"] == "OK"
    assert got["web@SEC2"]["status"] == "CRITICAL"
    assert "Connection refused" in got["web@SEC2"]["summary"]
    assert got["plugin@SEC1"]["status"] == "OK" and got["plugin@SEC2"]["status"] == "CRITICAL"
    assert got["hung@SEC1"]["summary"].endswith("no answer within 1 s")
    assert got["health@PRI"]["status"] == "OK", got["health@PRI"]
    assert len(hung.accepted) == 2  # both of the PRI's targets connected to the hung service

    text = cli(lgroup, "A", "verify", "run", "--service", "web")
    assert text.returncode == 22
    assert "OK       web@SEC1 (127.77.0.12)" in text.stdout
    assert text.stdout.strip().endswith("NO-GO: 2 checks, worst CRITICAL")
    cli(lgroup, "A", "verify", "run", "--service", "web")

    results = cli(lgroup, "A", "verify", "results", "--history", "5", "--json")
    assert results.returncode == 0, results.stderr
    data = json.loads(results.stdout)
    assert data["servers"] == {
        "PRI 127.77.0.11": "OK",  # itself: health
        "SEC1 127.77.0.12": "CRITICAL",  # the hung service
        "SEC2 127.77.0.13": "CRITICAL",  # its port is closed
    }
    assert data["services"]["web"] == "CRITICAL" and data["services"]["health"] == "OK"
    assert len(data["history"]["web@SEC1"]) == 2  # keep_rows = 2 of the 3 runs
    shown = cli(lgroup, "A", "verify", "results", "--service", "web")
    assert "servers: SEC1 127.77.0.12 GO, SEC2 127.77.0.13 NO-GO (CRITICAL)" in shown.stdout
    assert "services: web NO-GO (CRITICAL)" in shown.stdout

    # a SEC verifies its PRI (nothing listens on the PRI's address)
    sec = cli(lgroup, "B", "verify", "run", "--service", "web", "--json")
    assert sec.returncode == 22
    (only,) = json.loads(sec.stdout)["results"]
    assert (only["target_role"], only["target_address"], only["role"]) == (
        "PRI",
        "127.77.0.11",
        "SEC1",
    )
    hung.close()

    # the results database lives in the role's area, outside every snapshot: a SyncCycle
    # neither sends, receives, compares nor records it
    pri_db = lgroup.disk("disk-A") / "SID_DATA" / "PRI" / "VerifierResults.sqlite"
    sec_db = lgroup.disk("disk-B") / "SID_DATA" / "SEC1" / "VerifierResults.sqlite"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (pri_db, sec_db)}
    assert oct(pri_db.stat().st_mode & 0o777) == "0o600"
    report = cycle(lgroup.servers["A"].server(quiet))
    assert report.all_equal, report
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (pri_db, sec_db)}
    assert after == before
    for disk in ("disk-A", "disk-B", "disk-C"):
        sid = lgroup.disk(disk) / "SID_DATA"
        found = sorted(str(p.relative_to(sid)) for p in sid.rglob("VerifierResults*"))
        assert all(p.count("/") == 1 for p in found), found  # only <ROLE>/VerifierResults*
        tracked = subprocess.run(
            ["git", "-C", str(sid), "ls-files"], capture_output=True, text=True, check=True
        ).stdout
        assert "VerifierResults" not in tracked
    assert not (lgroup.disk("disk-B") / "SID_DATA" / "PRI" / "VerifierResults.sqlite").exists()


def test_verify_run_all_ok_exits_0_and_unknown_kind_23(lgroup: SimGroup, tmp_path: Path) -> None:
    proc = proc_fixture(tmp_path)
    write_services(
        lgroup,
        f'[service.health]\nkind = "health"\noptions = {{ proc = "{proc}" }}\n'
        "thresholds = { free = [0, -1] }\n",
    )
    ok = cli(lgroup, "C", "verify", "run")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("GO: 1 checks, worst OK")
    write_services(lgroup, '[service.odd]\nkind = "carrier-pigeon"\n')
    odd = cli(lgroup, "C", "verify", "run")
    assert odd.returncode == 23
    assert "no verifier of kind 'carrier-pigeon' is installed" in odd.stdout
    missing = cli(lgroup, "C", "verify", "run", "--service", "nope")
    assert missing.returncode == 1
    assert "no service 'nope' in" in missing.stderr


def test_verify_run_loop_streams_json_until_terminated(lgroup: SimGroup, tmp_path: Path) -> None:
    proc = proc_fixture(tmp_path)
    write_services(
        lgroup,
        f'[service.health]\nkind = "health"\ninterval = 0.3\noptions = {{ proc = "{proc}" }}\n',
    )
    config = str(lgroup.servers["B"].config)
    loop = subprocess.Popen(
        [sys.executable, "-m", "atlas_ha", "--config", config, "verify", "run", "--loop", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert loop.stdout is not None
        lines = [json.loads(loop.stdout.readline()) for _ in range(3)]
    finally:
        loop.terminate()  # SIGTERM: the loop stops cleanly
        code = loop.wait(timeout=10)
    assert code == 0
    assert [(r["service"], r["target_role"], r["role"]) for r in lines] == [
        ("health", "SEC1", "SEC1")
    ] * 3
    assert lines[2]["started"] - lines[0]["started"] >= 0.5  # every 0.3 s
    stored = json.loads(cli(lgroup, "B", "verify", "results", "--history", "9", "--json").stdout)
    assert len(stored["history"]["health@SEC1"]) >= 3


def test_services_detect_proposes_a_valid_services_file(lgroup: SimGroup) -> None:
    sim = lgroup.servers["A"]
    for program in ("/usr/sbin/nginx", "/usr/lib/postgresql/15/bin/postgres", "/usr/sbin/sshd"):
        sim.file(program).parent.mkdir(parents=True, exist_ok=True)
        sim.file(program).write_text("#!/bin/sh\n")
    sim.file("/etc/ssh").mkdir(parents=True)
    sim.file("/etc/ssh/sshd_config").write_text("Port 22\n")
    out = cli(lgroup, "A", "services", "detect")
    assert out.returncode == 0, out.stderr
    services = {s.name: s for s in parse(out.stdout, "detect output")}
    assert set(services) == {"web", "database", "ssh", "sentry", "health", "network"}
    assert services["web"].kind == "http" and services["web"].install == "/usr/sbin/nginx"
    assert services["web"].configs == ("/etc/nginx/sites-enabled",)  # A is Env2
    assert services["database"].install == "/usr/lib/postgresql/15/bin/postgres"
    assert services["ssh"].configs == ("/etc/ssh/sshd_config",)
    # each service's own checker, run against the system root ({root}), and its package
    assert services["web"].validate == (
        "/usr/sbin/nginx",
        "-t",
        "-q",
        "-c",
        "{root}/etc/nginx/nginx.conf",
    )
    assert services["web"].validate_argv(sim.root)[-1] == f"{sim.root}/etc/nginx/nginx.conf"
    assert services["ssh"].validate == ("/usr/sbin/sshd", "-t", "-f", "{root}/etc/ssh/sshd_config")
    assert "/usr/lib/postgresql/15/bin/postgres" in services["database"].validate
    assert services["database"].package == "postgresql-15"
    assert services["sentry"].kind == "sentry"  # every group gets the suspension reminder
    as_json = json.loads(cli(lgroup, "A", "services", "detect", "--json").stdout)
    names = [p["name"] for p in as_json]
    assert names == ["web", "database", "ssh", "sentry", "health", "network"]
    b = cli(lgroup, "B", "services", "detect", "--json")  # Env1: nothing installed but nginx conf
    assert [p["name"] for p in json.loads(b.stdout)] == ["sentry", "health", "network"]


def test_services_detect_checks_chrony_in_the_servers_own_layout(lgroup: SimGroup) -> None:
    """A (Env2) keeps chrony.conf in /etc/chrony/, B (Env1) in /etc/ (the chrony aspect)."""
    for name, conf in (("A", "/etc/chrony/chrony.conf"), ("B", "/etc/chrony.conf")):
        sim = lgroup.servers[name]
        sim.file("/usr/sbin/chronyd").parent.mkdir(parents=True, exist_ok=True)
        sim.file("/usr/sbin/chronyd").write_text("#!/bin/sh\n")
        out = cli(lgroup, name, "services", "detect")
        assert out.returncode == 0, out.stderr
        time = {s.name: s for s in parse(out.stdout, "detect output")}["time"]
        assert time.kind == "ntp" and time.package == "chrony"
        assert time.validate == ("/usr/sbin/chronyd", "-p", "-f", "{root}" + conf), name
        assert time.configs[0] == conf
