"""The http kind's `db_page`: a page an application behind nginx generates must show the
cycle's token (real nginx on loopback proxying to a small application)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.scenarios.test_http_verifier_local import Site, free_port, quiet

from atlas_ha.lab import services as lab_services
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.setup import run_setup

pytestmark = pytest.mark.skipif(
    not Path(lab_services.NGINX).exists(), reason="needs nginx"
)  # Site itself skips without root


@dataclass
class App:
    token: str = ""
    requests: int = 0


@dataclass
class DbSite:
    site: Site
    app: App
    token: str
    server: ThreadingHTTPServer

    def verify(self, **options: object) -> Profile:
        service = self.site.service()
        service = replace(service, options={**service.options, **options})
        return self.site.verify(service)


def start_app(app: App, port: int) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the page "from the database": the app's current token
            app.requests += 1
            body = f"<p>atlas-ha verifier token {app.token}</p>\n".encode()
            self.send_response(200 if self.path == lab_services.DB_PAGE else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def db_site(tmp_path: Path) -> Iterator[DbSite]:
    site = Site(tmp_path / "db")
    site.certificate("www.acme.lan", 90)
    site.write()
    port = free_port()
    conf = site.root / "etc/nginx/sites-enabled/www"
    conf.write_text(conf.read_text().replace("127.0.0.1:8008", f"127.0.0.1:{port}"))
    report = run_setup(site.sim.server(quiet))
    assert not report.errors, report.errors
    app = App(report.token)
    server = start_app(app, port)
    proc = site.start()
    try:
        yield DbSite(site, app, report.token, server)
    finally:
        proc.terminate()  # by PID: the nginx this test started
        proc.wait(timeout=10)
        server.shutdown()
        server.server_close()


def test_the_page_from_the_database_with_the_current_token_is_ok(db_site: DbSite) -> None:
    profile = db_site.verify(db_page=lab_services.DB_PAGE)
    assert profile.status == Status.OK, profile
    assert db_site.app.requests == 1  # through nginx, on the first server block's listen
    assert profile.data["token_seen"][-1] == db_site.token


def test_a_stale_token_on_the_page_is_critical(db_site: DbSite) -> None:
    db_site.app.token = "1000-0123456789abcdef"
    profile = db_site.verify(db_page=lab_services.DB_PAGE)
    assert profile.status == Status.CRITICAL
    assert "page from the database: http://www.acme.lan:" in profile.summary
    assert "/dbpage: wrong content (token 1000-0123456789abcdef" in profile.summary


def test_the_application_down_is_critical_bad_gateway(db_site: DbSite) -> None:
    db_site.server.shutdown()
    db_site.server.server_close()
    profile = db_site.verify(db_page=lab_services.DB_PAGE)
    assert profile.status == Status.CRITICAL
    assert "/dbpage: HTTP 502" in profile.summary, profile


def test_without_db_page_the_application_is_not_asked(db_site: DbSite) -> None:
    db_site.app.token = "1000-0123456789abcdef"
    assert db_site.verify().status == Status.OK
    assert db_site.app.requests == 0


def test_a_db_page_that_is_not_a_url_path_is_critical(db_site: DbSite) -> None:
    profile = db_site.verify(db_page="dbpage\r\nX: y")
    assert profile.status == Status.CRITICAL
    assert "options.db_page is a URL path" in profile.summary
