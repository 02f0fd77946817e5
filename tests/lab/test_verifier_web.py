"""The http and postgresql verifiers in the lab (A Env2 PRI, B Env1 SEC1, C Env3 SEC2), run
in-process inside each server's network namespace: OK against every healthy server from the
PRI and from a SEC (across environments), CRITICAL for each injected fault — and each test
first shows that the fault really happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.lab.common import verify_rows
from tests.lab.conftest import running_lab

from atlas_ha.lab import client, host, postgres
from atlas_ha.lab.lab import ADDRESSES, Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROLES = {"A": "PRI", "B": "SEC1", "C": "SEC2"}
PAGE = "/atlas-ha-verify.html"

VERIFY = """
import json, sys, time
from dataclasses import replace
from pathlib import Path
from atlas_ha.settings import load
from atlas_ha.context import Server
from atlas_ha.verifier import services
from atlas_ha.verifier.api import Context, Target, discover, verifier_for
from atlas_ha.verifier.setup import state_dir
config, name, role, address, options = sys.argv[1:6]
server = Server(load(Path(config)), log=lambda _l: None)
service = {s.name: s for s in services.load(server.settings.system_root)}[name]
service = replace(service, options={**service.options, **json.loads(options)})
ctx = Context(server, server.role(), state_dir=state_dir(server))
started = time.monotonic()
profile = verifier_for(service, discover()).verify(ctx, service, Target(role, address))
print(json.dumps({**profile.to_dict(), "elapsed": time.monotonic() - started}))
"""

HANG = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    held.append(s.accept()[0])  # accepts, never answers
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not postgres.available():
        pytest.skip("needs PostgreSQL")
    with running_lab("atlas-ha-lab-verifier-") as up:
        report = up.cycle("A")
        assert {c["sec"]: c["state"] for c in report["compare"]} == {
            "SEC1": "equal",
            "SEC2": "equal",
        }
        yield up


def verify(lab: Lab, on: str, service: str, target: str, **options: Any) -> dict[str, Any]:
    """Run one check in server `on`'s namespace against server `target`'s address."""
    config = str(lab.group.servers[on].config)
    role, address = ROLES[target], ADDRESSES[ROLES[target]]
    argv = [sys.executable, "-c", VERIFY, config, service, role, address, json.dumps(options)]
    out = lab.exec(on, argv, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def page(lab: Lab, name: str, url: str = PAGE) -> Path:
    """The file behind `url` on server `name` (its plugged disk's www)."""
    return lab.base / "servers" / name / "unbound" / "www" / url.lstrip("/")


def site_file(lab: Lab, name: str) -> Path:
    env = lab.servers()[name]["env"]
    site = "/etc/nginx/conf.d/www.conf" if env == 1 else "/etc/nginx/sites-enabled/www"
    return lab.group.servers[name].file(site)


def reload_nginx(lab: Lab, name: str) -> None:
    os.kill(lab.servers()[name]["nginx_pid"], signal.SIGHUP)  # by PID: the lab's master
    time.sleep(0.5)


def restart_nginx(lab: Lab, name: str) -> None:
    sim, info = lab.group.servers[name], lab.servers()[name]
    run = sim.base / "run"
    conf = sim.root / "etc" / "nginx" / "nginx.conf"
    argv = lab.nginx_argv(name, conf, "-g", "daemon off;")
    info["nginx_pid"] = host.spawn(info["anchor"], argv, run / "nginx.log")
    deadline = time.monotonic() + 10
    while client.http(lab, ADDRESSES[ROLES[name]])[0] != 200:
        assert time.monotonic() < deadline, f"nginx on {name} did not come back"
        time.sleep(0.2)


def psql_as_verifier(lab: Lab, name: str, query: str) -> tuple[int, str]:
    dsn = (
        f"host={ADDRESSES[ROLES[name]]} dbname=acme user={postgres.VERIFIER_USER} "
        f"password={postgres.VERIFIER_PASSWORD} connect_timeout=5"
    )
    out = lab.exec("A", ["psql", dsn, "-Atc", query], timeout=30)
    return out.returncode, out.stdout + out.stderr


def start_hang(lab: Lab, name: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.net.ns(name),
            sys.executable,
            "-c",
            HANG,
            ADDRESSES[ROLES[name]],
            str(port),
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"listening\n"
    return proc


def stop_hang(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # by PID: the listener this test started
    proc.wait(timeout=10)


PROBE = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
try:
    print("answered" if s.recv(1) else "closed")
except TimeoutError:
    print("accepted, no answer")
"""


def answer_within(lab: Lab, address: str, port: int) -> str:
    out = lab.exec("A", [sys.executable, "-c", PROBE, address, str(port)], timeout=30)
    return out.stdout.strip() or out.stderr.strip()


# -- healthy -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("on", "target"),
    [("A", "B"), ("A", "C"), ("B", "A"), ("C", "A")],
    ids=["Env2-PRI->Env1-SEC1", "Env2-PRI->Env3-SEC2", "Env1-SEC1->PRI", "Env3-SEC2->PRI"],
)
def test_healthy_servers_are_ok(lab: Lab, on: str, target: str) -> None:
    web = verify(lab, on, "web", target)
    assert web["status"] == "OK", web
    assert {m["label"] for m in web["measurements"]} == {"time", "size"}
    assert "/private/atlas-ha-verify.html without credentials: 401" in web["details"]
    db = verify(lab, on, "db", target)
    assert db["status"] == "OK", db
    assert db["measurements"][0]["label"] == "time"


def test_the_client_is_still_refused_and_staff_served(lab: Lab) -> None:
    assert client.http(lab, ADDRESSES["PRI"], "/private/payroll.html")[0] == 401
    assert page(lab, "B", "/private" + PAGE).exists()  # SetUp's page, synced to the SEC


def test_a_sec_lagging_one_cycle_is_accepted_then_a_stale_token_is_not(lab: Lab) -> None:
    installed = page(lab, "C").read_text()
    lab.cycle("A")
    assert page(lab, "C").read_text() != installed  # a new token reached C
    assert verify(lab, "A", "web", "C")["status"] == "OK"
    stale = installed.replace(installed.split("token ")[1].split()[0], "1000000000-abcdef")
    page(lab, "C").write_text(stale)
    result = verify(lab, "A", "web", "C")
    assert result["status"] == "CRITICAL" and "wrong content" in result["summary"], result
    lab.cycle("A")  # the next cycle repairs the SEC's test data
    assert verify(lab, "A", "web", "C")["status"] == "OK"


# -- faults ------------------------------------------------------------------------------------
def test_nginx_stopped_on_a_sec(lab: Lab) -> None:
    host.stop(lab.servers()["C"]["nginx_pid"])
    try:
        assert client.http(lab, ADDRESSES["SEC2"])[0] == 0  # the fault: nobody answers
        result = verify(lab, "A", "web", "C")
        assert result["status"] == "CRITICAL" and "connection refused" in result["summary"]
        assert verify(lab, "A", "web", "B")["status"] == "OK"  # the others are unaffected
    finally:
        restart_nginx(lab, "C")
    assert verify(lab, "A", "web", "C")["status"] == "OK"


def test_config_broken_on_a_sec(lab: Lab) -> None:
    site = site_file(lab, "B")  # B is Env1: conf.d
    good = site.read_text()
    site.write_text(good.replace("/www;", "/nowhere;"))
    reload_nginx(lab, "B")
    try:
        assert client.http(lab, ADDRESSES["SEC1"])[0] == 404  # the fault: pages are gone
        result = verify(lab, "A", "web", "B")
        assert result["status"] == "CRITICAL" and "HTTP 404" in result["summary"], result
    finally:
        site.write_text(good)
        reload_nginx(lab, "B")
    assert verify(lab, "A", "web", "B")["status"] == "OK"


def test_test_data_deleted(lab: Lab) -> None:
    page(lab, "C").unlink()
    assert client.http(lab, ADDRESSES["SEC2"], PAGE)[0] == 404
    result = verify(lab, "A", "web", "C")
    assert result["status"] == "CRITICAL" and f"{PAGE}: HTTP 404" in result["summary"]
    lab.cycle("A")
    assert verify(lab, "A", "web", "C")["status"] == "OK"


def test_page_served_with_wrong_content(lab: Lab) -> None:
    page(lab, "B").write_text("<h1>Hacked</h1>\n")
    assert "Hacked" in client.http(lab, ADDRESSES["SEC1"], PAGE)[2]
    result = verify(lab, "A", "web", "B")
    assert result["status"] == "CRITICAL" and "wrong content" in result["summary"]
    lab.cycle("A")
    assert verify(lab, "A", "web", "B")["status"] == "OK"


def test_restricted_page_exposed(lab: Lab) -> None:
    site = site_file(lab, "C")
    good = site.read_text()
    site.write_text(good.replace('auth_basic "ACME staff";', "auth_basic off;"))
    reload_nginx(lab, "C")
    try:
        status, _h, body = client.http(lab, ADDRESSES["SEC2"], "/private/payroll.html")
        assert (status, body) == (200, "salaries\n")  # the fault: anyone reads it
        result = verify(lab, "A", "web", "C")
        assert result["status"] == "CRITICAL", result
        assert "restricted page exposed (HTTP 200" in result["summary"]
    finally:
        site.write_text(good)
        reload_nginx(lab, "C")
    assert verify(lab, "A", "web", "C")["status"] == "OK"


def test_verifier_table_missing(lab: Lab) -> None:
    code, out = psql_as_verifier(lab, "B", "DROP TABLE atlas_verifier.token")
    assert code == 0, out
    code, out = psql_as_verifier(lab, "B", "SELECT token FROM atlas_verifier.token")
    assert code != 0 and "does not exist" in out  # the fault
    result = verify(lab, "A", "db", "B")
    assert result["status"] == "CRITICAL" and "does not exist" in result["summary"], result
    assert verify(lab, "A", "db", "C")["status"] == "OK"
    lab.cycle("A")  # after install on the SEC puts the table back
    assert verify(lab, "A", "db", "B")["status"] == "OK"


def test_wrong_credentials_are_critical(lab: Lab) -> None:
    result = verify(lab, "A", "db", "C", password_file="/etc/atlas-ha/secrets/web")
    assert result["status"] == "CRITICAL" and "password authentication failed" in result["summary"]


def test_hung_services_are_critical_within_the_timeout(lab: Lab) -> None:
    host.stop(lab.servers()["C"]["nginx_pid"])
    web_hang = start_hang(lab, "C", 80)
    db_hang = start_hang(lab, "B", 5433)
    try:
        # the fault: each accepts a connection and never answers
        assert answer_within(lab, ADDRESSES["SEC2"], 80) == "accepted, no answer"
        assert answer_within(lab, ADDRESSES["SEC1"], 5433) == "accepted, no answer"
        web = verify(lab, "A", "web", "C")
        db = verify(lab, "A", "db", "B", port=5433)
    finally:
        stop_hang(web_hang)
        stop_hang(db_hang)
        restart_nginx(lab, "C")
    assert web["status"] == "CRITICAL" and "timed out" in web["summary"], web
    assert web["elapsed"] <= 5 + 1  # the service's timeout (5 s) + 1 s
    assert db["status"] == "CRITICAL" and "timeout" in db["summary"].lower(), db
    assert db["elapsed"] <= 5 + 1
    assert verify(lab, "A", "web", "C")["status"] == "OK"


def test_a_round_with_a_hung_service_delays_no_other_check(lab: Lab) -> None:
    """The real scheduler (`atlas-ha verify run`) on the PRI while SEC2's web service accepts
    and never answers: that check is CRITICAL at its timeout, every other check is OK and
    finishes as fast as usual."""
    host.stop(lab.servers()["C"]["nginx_pid"])
    hang = start_hang(lab, "C", 80)
    try:
        assert answer_within(lab, ADDRESSES["SEC2"], 80) == "accepted, no answer"
        rows = verify_rows(lab, "A")
    finally:
        stop_hang(hang)
        restart_nginx(lab, "C")
    hung = rows.pop("web@SEC2")
    assert hung["profile"]["status"] == "CRITICAL", hung
    assert 5 - 0.5 <= hung["duration"] <= 5 + 1  # the web service's timeout (5 s) + 1 s
    plugin = rows.pop("web-plugin@SEC2", None)  # check_http meets the same hung service
    assert plugin is None or plugin["profile"]["status"] == "CRITICAL", plugin
    page = rows.pop("dbpage@SEC2", None)  # so does the page from the database (behind nginx)
    assert page is None or page["profile"]["status"] == "CRITICAL", page
    assert {check: r["profile"]["status"] for check, r in rows.items()} == dict.fromkeys(rows, "OK")
    assert "web@SEC1" in rows and "db@SEC2" in rows
    assert max(r["duration"] for r in rows.values()) < 3.0, rows
