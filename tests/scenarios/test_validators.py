"""Each service's configuration checked by its own checker (issue 13 item 3), in a simulated
group (A Env2 PRI, B Env1 SEC1, C Env3 SEC2).

The checker is a site script in each server's own system root (as each server has its own
nginx): B's rejects a directive (`marker_v2_only`) that A's and C's accept, printing what
nginx prints ("unknown directive ... in FILE:LINE")."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from tests.scenarios.test_verifier_setup import configure

from atlas_ha.cli.main import main
from atlas_ha.errors import ConfigRejectedError
from atlas_ha.lab.group import SimGroup, SimServer
from atlas_ha.layout import validation
from atlas_ha.sync.cycle import CycleReport, cycle, last_cycle
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.profile import Status

Cycle = Callable[[str], CycleReport]
CHECKER = "/usr/local/sbin/check-web"
ACCEPTS = "#!/bin/sh\nexit 0\n"
REJECTS_MARKER = """#!/bin/sh
# this environment's nginx does not know the directive marker_v2_only
hit=$(grep -rn marker_v2_only "$1" | head -n 1)
[ -z "$hit" ] && exit 0
file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}
echo "nginx: [emerg] unknown directive \\"marker_v2_only\\" in $file:$line" >&2
echo "nginx: configuration file $1/nginx.conf test failed" >&2
exit 1
"""
SERVICES = f"""
[service.web]
kind = "http"
reload = ["sh", "-c", "echo reloaded >> {{root}}/reloads.log"]
validate = "{{root}}{CHECKER} {{root}}/etc/nginx"
[service.web.options]
credentials = "/etc/atlas-ha/secrets/web"
"""
PRI_SITE = "/etc/nginx/sites-enabled/www"
B_SITE = "/etc/nginx/conf.d/www.conf"


def quiet(_line: str) -> None:
    pass


def checker(sim: SimServer, script: str) -> None:
    path = sim.file(CHECKER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    path.chmod(0o755)


def reloads(sim: SimServer) -> int:
    log = sim.file("/reloads.log")
    return log.read_text().count("reloaded") if log.exists() else 0


def owed(sim: SimServer) -> list[str]:
    path = sim.base / "esd" / "owed-reloads.json"
    return list(json.loads(path.read_text())["paths"]) if path.exists() else []


def mark(sim: SimServer, path: str, on: bool) -> None:
    site = sim.file(path)
    text = site.read_text().replace("    marker_v2_only on;\n", "")
    if on:
        text = text.replace("    listen 80;\n", "    listen 80;\n    marker_v2_only on;\n")
    site.write_text(text)


def config_check(sim: SimServer) -> tuple[Status, str, dict[str, object]]:
    server = sim.server(quiet)
    rows = run_round(plan(server, "web"))
    (row,) = [r for r in rows if r.service == "web:config"]
    assert row.target_role == server.role()
    return row.profile.status, row.profile.summary, row.profile.data


@pytest.fixture
def checked(group: SimGroup) -> SimGroup:
    """Every server with its checker (B's rejecting the marker), the services file naming it."""
    for name, sim in group.servers.items():
        checker(sim, REJECTS_MARKER if name == "B" else ACCEPTS)
    configure(group, SERVICES)
    return group


def test_a_rejected_configuration_is_not_reloaded_and_is_reported_to_the_pri(
    checked: SimGroup, run_cycle: Cycle, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = (checked.servers[n] for n in "ABC")
    run_cycle("A")
    assert (reloads(b), reloads(c)) == (1, 1)  # both accepted: reloaded
    assert config_check(b)[0] is Status.OK

    mark(a, PRI_SITE, on=True)  # valid for A's (and C's) nginx, not for B's
    report = run_cycle("A")
    assert reloads(c) == 2  # C's checker accepts: reloaded
    assert reloads(b) == 1  # B's rejects: not reloaded, it runs its last good configuration
    assert "marker_v2_only" in b.file(B_SITE).read_text()  # installed all the same
    assert owed(b) == [B_SITE]  # its reload stays owed
    sec1, sec2 = report.compare
    assert sec1.state == "equal" and sec2.rejected == []
    (line,) = sec1.rejected
    assert line.startswith("web: installed but rejected by check-web on SEC1 (Env1): ")
    assert f"{B_SITE} line 3" in line and 'unknown directive "marker_v2_only"' in line
    assert str(b.root) not in line  # the file as the server sees it
    assert line in sec1.summary()  # what `sync cycle` prints
    assert last_cycle(a.server(quiet))["compare"][0]["rejected"] == [line]  # type: ignore[index]
    status, summary, data = config_check(b)  # B's own verifier: CRITICAL, file and line
    assert status is Status.CRITICAL
    assert f"{B_SITE} line 3" in summary and "unknown directive" in summary
    assert data["line"] == 3 and data["file"] == B_SITE
    assert config_check(c)[0] is Status.OK
    capsys.readouterr()
    config = ["--config", str(a.config)]
    main([*config, "sync", "compare"])  # Compare on its own says it too, from that answer
    assert f"SEC1: equal at Env2\n  {line}\n" in capsys.readouterr().out
    main([*config, "status"])  # and SEC1's failover readiness names it
    shown = capsys.readouterr().out
    assert line in shown and shown.index("SEC1") < shown.index(line)

    report = run_cycle("A")  # nothing new installed: the owed reload is checked again
    assert reloads(b) == 1 and owed(b) == [B_SITE] and report.compare[0].rejected

    mark(a, PRI_SITE, on=False)  # fixed on the PRI: B's next Install passes, reloads
    report = run_cycle("A")
    assert reloads(b) == 2 and owed(b) == [] and report.compare[0].rejected == []
    assert config_check(b)[0] is Status.OK
    capsys.readouterr()
    main([*config, "sync", "compare"])
    assert "rejected" not in capsys.readouterr().out


def test_a_checker_missing_on_a_server_is_unknown_never_ok(
    checked: SimGroup, run_cycle: Cycle
) -> None:
    b = checked.servers["B"]
    b.file(CHECKER).unlink()
    run_cycle("A")
    assert reloads(b) == 1  # as without a checker: the reload goes on
    status, summary, _data = config_check(b)
    assert status is Status.UNKNOWN and "program not found" in summary
    (verdict,) = validation.read(b.server(quiet).esd, "SEC1").values()
    assert verdict.state == "unknown"
    report = run_cycle("A")
    (line,) = report.compare[0].rejected
    assert line.startswith("web: not checked by check-web on SEC1 (Env1): ")


def test_the_pri_checks_before_create_and_reports_or_refuses(
    checked: SimGroup, run_cycle: Cycle
) -> None:
    a, b = checked.servers["A"], checked.servers["B"]
    checker(a, REJECTS_MARKER)
    run_cycle("A")
    mark(a, PRI_SITE, on=True)
    report = run_cycle("A")  # default: reported, still synced (the SECs check it too)
    (line,) = report.pri_rejected
    assert line.startswith(f"web: rejected by check-web on PRI (Env2): {PRI_SITE} line 3: ")
    assert "marker_v2_only" in b.file(B_SITE).read_text()
    status, _summary, _data = config_check(a)
    assert status is Status.CRITICAL

    settings = a.config.read_text()
    a.config.write_text(settings + '\n[sync]\nrejected = "refuse"\n')
    mark(a, PRI_SITE, on=False)
    a.file(PRI_SITE).write_text(a.file(PRI_SITE).read_text() + "# refused\n")
    mark(a, PRI_SITE, on=True)
    with pytest.raises(ConfigRejectedError, match=f"check-web: {PRI_SITE} line 3"):
        cycle(a.server(quiet))
    assert "# refused" not in b.file(B_SITE).read_text()  # nothing was sent
