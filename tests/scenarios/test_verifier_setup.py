"""Verifier SetUp mode (SPEC 8.2) in a simulated group (A Env2 PRI, B Env1 SEC1, C Env3 SEC2):
the lists and test data it writes, a moved document root followed by every SEC, a new service
synced without manual steps, a removed service's lists gone everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import states

from atlas_ha.lab.group import SimGroup, SimServer
from atlas_ha.layout import paths as paths_mod
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.verifier.setup import recent_tokens, run_setup, state_dir

Cycle = Callable[[str], CycleReport]
PAGE = "atlas-ha-verify.html"
SITE = """server {{
    listen 80;
    server_name www.acme.lan;
    root {root};
    location /private/ {{
        auth_basic "staff";
        auth_basic_user_file htpasswd-acme;
    }}
}}
"""
SERVICES = """
[service.web]
kind = "http"
[service.web.options]
credentials = "/etc/atlas-ha/secrets/web"
"""
SITE_FILES = {1: "/etc/nginx/conf.d/www.conf", 2: "/etc/nginx/sites-enabled/www"}


def quiet(_line: str) -> None:
    pass


def pri_site(group: SimGroup, root: str) -> None:
    a = group.servers["A"]
    a.file(SITE_FILES[2]).write_text(SITE.format(root=root))
    a.file(root).mkdir(parents=True, exist_ok=True)
    a.file(root + "/index.html").write_text("<h1>ACME</h1>\n")


def configure(group: SimGroup, services: str = SERVICES) -> None:
    a = group.servers["A"]
    pri_site(group, "/var/www/acme")
    a.file("/etc/nginx/htpasswd-acme").write_text("atlas-verifier:{PLAIN}secret\n")
    secret = a.file("/etc/atlas-ha/secrets/web")
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("atlas-verifier:secret\n")
    secret.chmod(0o600)
    a.file("/etc/atlas-ha/services.toml").write_text(services)


def area_list(sim: SimServer, role: str, env: int, name: str) -> list[str]:
    return paths_mod.read(sim.server(quiet).sid.area(role, env).path / name)


def token_in(sim: SimServer, path: str) -> str:
    return sim.file(path).read_text().split("token ")[1].split()[0]


def test_setup_writes_lists_and_test_data(group: SimGroup, run_cycle: Cycle) -> None:
    configure(group)
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    a = group.servers["A"]
    configs = area_list(a, "PRI", 2, "SyncFilePathsSvcwebconfigs")
    assert configs == [
        "/etc/nginx/sites-enabled",
        "/etc/atlas-ha/secrets/web",
        "/etc/nginx/htpasswd-acme",
    ]
    data = area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata")
    pages = ["/var/www/acme/" + PAGE, "/var/www/acme/private/" + PAGE]
    assert data == [*pages, "/var/lib/atlas-ha/verifier/web.json"]
    assert area_list(a, "PRI", 2, "SyncFilePathsSvc_verifierconfigs") == [
        "/etc/atlas-ha/services.toml",
        "/etc/atlas-ha/alerts.toml",  # the alert rules travel with the services file
    ]
    synced = area_list(a, "PRI", 2, "SyncFilePaths")
    assert set(configs + data + ["/etc/atlas-ha/services.toml"]) <= set(synced)
    (token,) = recent_tokens(a.server(quiet))
    assert state_dir(a.server(quiet)).stat().st_mode & 0o077 == 0
    for sim in group.servers.values():  # the PRI's pages, installed on every SEC
        assert [token_in(sim, p) for p in pages] == [token, token], sim.name
        assert sim.file("/etc/atlas-ha/services.toml").read_text() == SERVICES
        assert sim.file("/etc/nginx/htpasswd-acme").exists()
    # B (Env1) received its lists converted to its own format: conf.d
    b_configs = area_list(group.servers["B"], "SEC1", 1, "SyncFilePathsSvcwebconfigs")
    assert b_configs[0] == "/etc/nginx/conf.d"
    assert "root /var/www/acme;" in group.servers["B"].file(SITE_FILES[1]).read_text()
    # a second cycle: a new token everywhere, the previous one still accepted on the PRI
    run_cycle("A")
    newer = recent_tokens(a.server(quiet))
    assert newer[1] == token and newer[0] != token
    assert token_in(group.servers["C"], pages[0]) == newer[0]


def test_setup_runs_on_the_pri_only(group: SimGroup, run_cycle: Cycle) -> None:
    configure(group)
    run_cycle("A")
    report = run_setup(group.servers["B"].server(quiet))
    assert report.skipped.startswith("SetUp runs on the PRI only") and not report.token


def test_moved_document_root_is_followed_by_every_sec(group: SimGroup, run_cycle: Cycle) -> None:
    configure(group)
    run_cycle("A")
    old, new = "/var/www/acme/" + PAGE, "/srv/web/acme/" + PAGE
    pri_site(group, "/srv/web/acme")
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    a = group.servers["A"]
    data = area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata")
    assert new in data and "/srv/web/acme/private/" + PAGE in data
    assert old in data  # listed once more, absent: its removal reaches the SECs
    (token,) = recent_tokens(a.server(quiet))[:1]
    for sim in group.servers.values():
        assert token_in(sim, new) == token, sim.name
        assert not sim.file(old).exists(), sim.name
    site_b = group.servers["B"].file(SITE_FILES[1]).read_text()
    assert "root /srv/web/acme;" in site_b
    run_cycle("A")
    assert old not in area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata")
    assert old not in area_list(group.servers["C"], "SEC2", 3, "SyncFilePathsSvcwebdata")


def test_added_service_is_synced_and_removed_service_unlisted(
    group: SimGroup, run_cycle: Cycle
) -> None:
    configure(group)
    run_cycle("A")
    a = group.servers["A"]
    a.file("/etc/app2").mkdir()
    a.file("/etc/app2/app2.conf").write_text("port = 7\n")
    # a second service; its database is unreachable here (port 1 on loopback): SetUp goes on
    added = SERVICES + (
        '[service.db]\nkind = "postgresql"\nconfigs = ["/etc/app2"]\n'
        '[service.db.options]\nhost = "127.0.0.1"\nport = 1\n'
    )
    a.file("/etc/atlas-ha/services.toml").write_text(added)
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert area_list(a, "PRI", 2, "SyncFilePathsSvcdbconfigs") == ["/etc/app2"]
    for sim in group.servers.values():
        assert sim.file("/etc/app2/app2.conf").read_text() == "port = 7\n", sim.name
        token = sim.file("/var/lib/atlas-ha/verifier/db.token").read_text().strip()
        assert token == recent_tokens(a.server(quiet))[0]
    a.file("/etc/atlas-ha/services.toml").write_text(SERVICES)
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    for sim, role, env in ((a, "PRI", 2), (group.servers["B"], "SEC1", 1)):
        area = sim.server(quiet).sid.area(role, env).path
        assert sorted(p.name for p in area.glob("SyncFilePathsSvc*")) == [
            "SyncFilePathsSvc_verifierconfigs",
            "SyncFilePathsSvcwebconfigs",
            "SyncFilePathsSvcwebdata",
        ], sim.name


def test_broken_services_file_keeps_the_lists_and_the_cycle(
    group: SimGroup, run_cycle: Cycle, tmp_path: Path
) -> None:
    configure(group)
    run_cycle("A")
    a = group.servers["A"]
    before = area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata")
    a.file("/etc/atlas-ha/services.toml").write_text("[service.web\n")
    report = run_setup(a.server(quiet))
    assert "services.toml:1" in report.errors[0]
    assert area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata") == before
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    # the broken file itself still reaches the SECs (it is listed), so they see the same
    assert group.servers["B"].file("/etc/atlas-ha/services.toml").read_text() == "[service.web\n"


def test_sec_reloads_a_service_only_when_its_configs_changed(
    group: SimGroup, run_cycle: Cycle
) -> None:
    reload = '["sh", "-c", "echo reloaded >> {root}/reloads.log"]'
    configure(group, SERVICES.replace('kind = "http"', f'kind = "http"\nreload = {reload}'))
    run_cycle("A")  # first install: the site arrives on the SECs
    logs = {n: group.servers[n].file("/reloads.log") for n in ("B", "C")}
    assert all(log.read_text() == "reloaded\n" for log in logs.values())
    run_cycle("A")  # only the test data changed (a new token): no reload
    assert all(log.read_text() == "reloaded\n" for log in logs.values())
    pri_site(group, "/var/www/acme")  # same site, rewritten identically: nothing changed
    run_cycle("A")
    assert all(log.read_text() == "reloaded\n" for log in logs.values())
    site = group.servers["A"].file(SITE_FILES[2])
    site.write_text(site.read_text().replace("listen 80;", "listen 8080;"))
    run_cycle("A")
    assert all(log.read_text() == "reloaded\n" * 2 for log in logs.values())
    assert not group.servers["A"].file("/reloads.log").exists()  # never on the PRI


def test_an_env1_server_holding_the_pri_disk_sets_up_in_its_own_format(
    group: SimGroup, run_cycle: Cycle
) -> None:
    configure(group)
    run_cycle("A")
    group.swap("A", "B")  # B (Env1) gets the PRI's disk, A (Env2) SEC1's
    group.boot("A")
    group.boot("B")
    report = run_cycle("B")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    b = group.servers["B"]
    assert area_list(b, "PRI", 1, "SyncFilePathsSvcwebconfigs")[0] == "/etc/nginx/conf.d"
    token = recent_tokens(b.server(quiet))[0]
    for sim in group.servers.values():
        assert token_in(sim, "/var/www/acme/" + PAGE) == token, sim.name


def test_a_failing_setup_keeps_the_last_good_lists_and_test_data(
    group: SimGroup, run_cycle: Cycle
) -> None:
    configure(group)
    run_cycle("A")
    a = group.servers["A"]
    before = area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata")
    site = a.file(SITE_FILES[2])
    site.write_text(site.read_text().rstrip().removesuffix("}"))  # the server block is open
    report = run_setup(a.server(quiet))
    assert report.errors == [
        "service web: SetUp failed: /etc/nginx/sites-enabled/www:8: a closing '}'"
    ]
    assert area_list(a, "PRI", 2, "SyncFilePathsSvcwebdata") == before
    assert all(a.file(p).exists() for p in before)
