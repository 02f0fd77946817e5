"""Who serves the page: `atlas-ha report serve` in the foreground, and the daemon, which
starts it with itself, takes its "run a SyncCycle now" requests and stops it with itself."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
from tests.web.site import Site, basic, free_port, web_section

from atlas_ha.daemon import control
from atlas_ha.daemon.loop import read_heartbeat
from atlas_ha.daemon.web import status_page


def cli(site: Site, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    config = site.group.servers["A"].config
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def answers(url: str, user: str | None = None) -> int | None:
    request = urllib.request.Request(url)
    if user:
        request.add_header("Authorization", basic(user))
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def wait_answer(url: str, user: str | None = None, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while (code := answers(url, user)) is None:
        assert time.monotonic() < deadline, f"nothing answers on {url}"
        time.sleep(0.1)
    return code


def test_serve_refuses_an_address_beyond_loopback_without_auth(site: Site) -> None:
    site.configure(web_section("127.0.0.2:8470"))
    out = cli(site, "report", "serve")
    assert out.returncode == 33
    assert "127.0.0.2:8470" in out.stderr and "not a loopback address" in out.stderr


def test_serve_runs_in_the_foreground_until_told_to_stop(site: Site, tmp_path: object) -> None:
    port = free_port()
    site.configure(web_section(f"127.0.0.1:{port}"))
    config = site.group.servers["A"].config
    log = site.group.base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "atlas_ha", "--config", str(config), "report", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        assert wait_answer(f"http://127.0.0.1:{port}/") == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0  # a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"on http://127.0.0.1:{port}/" in log.read_text()
    assert answers(f"http://127.0.0.1:{port}/") is None


def post_cycle(url: str) -> int:
    request = urllib.request.Request(url + "/")
    request.add_header("Authorization", basic("alice"))
    with urllib.request.urlopen(request, timeout=10) as answer:
        cookie = answer.headers["set-cookie"].split(";")[0]
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', answer.read().decode())
    assert token
    data = urllib.parse.urlencode({"csrf": token.group(1)}).encode()
    request = urllib.request.Request(url + "/actions/cycle", data=data, method="POST")
    request.add_header("Authorization", basic("alice"))
    request.add_header("Cookie", cookie)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def test_the_daemon_serves_the_page_takes_a_cycle_request_and_stops_the_page(site: Site) -> None:
    port = free_port()
    server = site.configure(web_section(f"127.0.0.1:{port}", {"alice": "operator"}))
    url = f"http://127.0.0.1:{port}"
    before = json.loads(server.sid.last_cycle_file.read_text())["finished"]
    started = cli(site, "daemon", "start", "--interval", "3600")  # no cycle of its own
    assert started.returncode == 0, started.stderr
    try:
        assert wait_answer(url + "/", "alice") == 200
        assert answers(url + "/") == 401
        assert post_cycle(url) == 200  # the redirect to the page, followed
        deadline = time.monotonic() + 30
        while json.loads(server.sid.last_cycle_file.read_text())["finished"] == before:
            assert time.monotonic() < deadline, read_heartbeat(server)
            time.sleep(0.2)
        # the turn's sentence reaches the heartbeat after the alert round and the recorder
        while "SyncCycle done" not in str((read_heartbeat(server) or {}).get("sentence")):
            assert time.monotonic() < deadline, read_heartbeat(server)
            time.sleep(0.2)
    finally:
        assert cli(site, "daemon", "stop").returncode == 0
    assert control.running_pid(server) is None
    assert answers(url + "/") is None  # the page stopped with the daemon
    daemon_log = (server.esd.logs_dir / "daemon.log").read_text()
    assert f"status page on http://127.0.0.1:{port}/" in daemon_log
    assert "SyncCycle requested by alice" in daemon_log
    assert "GET / HTTP/1.1" in server.esd.web_log_file.read_text()  # its own log


def test_a_page_that_cannot_start_does_not_stop_the_daemon(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = site.configure(web_section(f"127.0.0.1:{port}"))
        assert cli(site, "daemon", "start", "--interval", "3600").returncode == 0
        try:
            assert control.running_pid(server) is not None
        finally:
            assert cli(site, "daemon", "stop").returncode == 0
    daemon_log = (server.esd.logs_dir / "daemon.log").read_text()
    assert f"ALERT status page: [report] listen = '127.0.0.1:{port}': cannot listen" in daemon_log


def test_the_page_runs_exactly_as_long_as_the_daemon_run(site: Site) -> None:
    port = free_port()
    server = site.configure(web_section(f"127.0.0.1:{port}"))
    stop = threading.Event()
    lines: list[str] = []
    run = threading.Thread(
        target=control.run, args=(server, 3600.0, stop, lines.append, False), daemon=True
    )
    run.start()
    try:
        assert wait_answer(f"http://127.0.0.1:{port}/") == 200
    finally:
        stop.set()
        run.join(30)
    assert not run.is_alive() and "stopped" in lines
    assert answers(f"http://127.0.0.1:{port}/") is None  # stopped in this very process


def test_without_the_pages_libraries_the_daemon_says_so_and_goes_on(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Python where the web stack cannot be imported (an install without its dependencies)
    monkeypatch.setitem(sys.modules, "atlas_ha.report.web.server", None)
    lines: list[str] = []
    with status_page(site.pri(), lines.append) as page:
        assert page is None
    assert len(lines) == 1 and lines[0].startswith("ALERT status page: not served,")
    assert "is not installed" in lines[0]
