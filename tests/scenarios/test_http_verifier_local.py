"""The http verifier against a real local nginx on loopback (plain and TLS): certificate
checked against the configured CA, days to expiry measured and judged, untrusted or wrongly
named certificates CRITICAL; credentials (mode, wrong password); a malformed synced probe
list; which tokens the PRI and a SEC accept."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from atlas_ha.lab import services as lab_services
from atlas_ha.lab.group import SimGroup
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.http import HttpVerifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.setup import accepts, recent_tokens, run_setup, state_dir

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(lab_services.NGINX).exists(), reason="needs root and nginx"
)
USER, PASSWORD = "atlas_verifier", "tls-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet(_line: str) -> None:
    pass


class Site:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.group = SimGroup(base / "group")
        self.group.build({"A": (2, "PRI")})
        self.sim = self.group.servers["A"]
        self.root = self.sim.root
        self.http, self.https = free_port(), free_port()

    def certificate(self, name: str, days: int) -> None:
        tls = self.root / "etc/nginx/tls"
        tls.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(tls / "key.pem"),
                "-out",
                str(tls / "cert.pem"),
                "-days",
                str(days),
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName=DNS:{name}",
            ],
            check=True,
            capture_output=True,
        )

    def write(self) -> None:
        www = self.base / "www"
        (www / "private").mkdir(parents=True)
        lab_services.mirror_mount(self.root, www, www)
        tls = self.root / "etc/nginx/tls"
        site = (
            lab_services.site(www)
            .decode()
            .replace(
                "listen 80;",
                f"listen 127.0.0.1:{self.http};\n    listen 127.0.0.1:{self.https} ssl;\n"
                f"    ssl_certificate {tls}/cert.pem;\n    ssl_certificate_key {tls}/key.pem;",
            )
        )
        (self.root / "etc/nginx/sites-enabled/www").write_text(site)
        (self.root / "etc/nginx" / lab_services.HTPASSWD).write_text(
            lab_services.htpasswd_line(USER, PASSWORD)
        )
        secret = self.root / "etc/atlas-ha/secrets/web"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(f"{USER}:{PASSWORD}\n")
        secret.chmod(0o600)
        services_mod.services_file(self.root).write_text(
            '[service.web]\nkind = "http"\ntimeout = 5\n'
            "[service.web.thresholds]\ncert_days = [60, 7]\ntime = [1, 3]\n"
            '[service.web.options]\ncredentials = "/etc/atlas-ha/secrets/web"\n'
            'ca_file = "/etc/nginx/tls/cert.pem"\n'
        )

    def start(self) -> subprocess.Popen[bytes]:
        run = self.base / "run"
        conf = lab_services.write_nginx(self.root, run, "sites-enabled")
        argv = lab_services.nginx_argv(run, run, conf, "-g", "daemon off;")
        proc = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.https)) == 0:
                    return proc
            assert time.monotonic() < deadline and proc.poll() is None, "nginx did not start"
            time.sleep(0.05)

    def service(self) -> ServiceDef:
        return services_mod.load(self.root)[0]

    def verify(self, service: ServiceDef | None = None) -> Profile:
        server = self.sim.server(quiet)
        ctx = Context(server, "PRI", state_dir=state_dir(server))
        target = Target("PRI", "127.0.0.1", own=True)
        return HttpVerifier().verify(ctx, service or self.service(), target)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    base = tmp_path / "tls"
    site = Site(base)
    site.certificate("www.acme.lan", 30)
    site.write()
    report = run_setup(site.sim.server(quiet))
    assert not report.errors, report.errors
    proc = site.start()
    try:
        yield site
    finally:
        proc.terminate()  # by PID: the nginx this test started
        proc.wait(timeout=10)


def test_https_certificate_is_verified_and_its_expiry_judged(site: Site) -> None:
    profile = site.verify()
    cert = next(m for m in profile.measurements if m.label == "cert_days")
    assert 29 <= cert.value <= 30 and cert.judgement == "slow"  # under 60 days: slow
    assert profile.status == Status.WARNING, profile
    assert "cert_days" in profile.summary and "d slow" in profile.summary
    # both listens are probed: plain and TLS, each page and the restricted location
    assert profile.details.count("https://www.acme.lan") == 3  # page, private x 2
    assert profile.details.count("http://www.acme.lan") == 3


def test_untrusted_certificate_is_critical(site: Site) -> None:
    service = site.service()
    untrusted = replace(
        service, options={k: v for k, v in service.options.items() if k != "ca_file"}
    )
    profile = site.verify(untrusted)
    assert profile.status == Status.CRITICAL
    assert "certificate not valid: self-signed certificate" in profile.summary, profile


def test_certificate_for_another_name_is_critical(site: Site) -> None:
    site.certificate("other.example", 30)  # the CA file is that certificate too
    subprocess.run(
        lab_services.nginx_argv(
            site.base / "run", site.base / "run", site.root / "etc/nginx/nginx.conf", "-s", "reload"
        ),
        check=True,
    )
    time.sleep(0.5)
    profile = site.verify()
    assert profile.status == Status.CRITICAL
    assert "certificate not valid: Hostname mismatch" in profile.summary, profile


def test_credentials_file_readable_by_others_is_critical(site: Site) -> None:
    secret = site.root / "etc/atlas-ha/secrets/web"
    secret.chmod(0o644)
    profile = site.verify()
    assert profile.status == Status.CRITICAL
    assert "credentials file /etc/atlas-ha/secrets/web must be mode 0600" in profile.summary


def test_wrong_credentials_are_refused_and_critical(site: Site) -> None:
    secret = site.root / "etc/atlas-ha/secrets/web"
    secret.write_text(f"{USER}:not-the-password\n")
    profile = site.verify()
    assert profile.status == Status.CRITICAL
    assert "/private/atlas-ha-verify.html: HTTP 401" in profile.summary, profile


def test_malformed_probe_list_is_unknown_not_followed(site: Site) -> None:
    record = site.root / "var/lib/atlas-ha/verifier/web.json"
    data = json.loads(record.read_text())
    data["probes"][0]["url"] = "/x HTTP/1.1\r\nHost: evil\r\n\r\nGET /"
    record.write_text(json.dumps(data))
    profile = site.verify()
    assert profile.status == Status.UNKNOWN
    assert profile.summary.startswith(
        "verifier data malformed: /var/lib/atlas-ha/verifier/web.json"
    )
    record.unlink()
    assert site.verify().summary == "no verifier data /var/lib/atlas-ha/verifier/web.json"


def test_token_acceptance_on_pri_and_sec(site: Site) -> None:
    server = site.sim.server(quiet)
    (current,) = recent_tokens(server)
    assert accepts(server, "PRI", current, "")
    assert not accepts(server, "PRI", "1000-abcdef", "")
    now = int(server.clock.now())
    installed = f"{now - 300}-aa"
    assert accepts(server, "SEC1", installed, installed)
    assert accepts(server, "SEC1", f"{now}-bb", installed)  # the PRI moved on
    assert not accepts(server, "SEC1", f"{now - 600}-cc", installed)  # older than installed
    assert not accepts(server, "SEC1", f"{now + 3600}-dd", installed)  # from the future
    assert not accepts(server, "SEC1", "garbage", installed)
