"""The status page over real HTTP (uvicorn on loopback) with a simulated group's real records:
the grid, the drill-downs, the JSON API, who may see and act, the CSRF token."""

from __future__ import annotations

import hashlib
import html
import json
import re
import urllib.parse
import urllib.request
from dataclasses import replace

import pytest
from tests.web.site import Served, Site, basic, free_port, serve, web_section

from atlas_ha.layout import manifest
from atlas_ha.layout.sid import Area
from atlas_ha.report.recorder import record
from atlas_ha.report.web.actions import take_cycle_request
from atlas_ha.sync.compare import compare
from atlas_ha.sync.suspension import suspend, suspended


def cell(body: str, key: str) -> str:
    """The <td> of grid cell `key` ("SEC1/app")."""
    match = re.search(rf'<td class="cell ([^"]+)" data-cell="{re.escape(key)}".*?</td>', body, re.S)
    assert match, f"no cell {key}"
    return match.group(0)


def edit(area: Area, path: str, content: bytes) -> None:
    """Change a file of a snapshot area and its Manifest entry alike (what a Create does)."""
    area.copy_path("SyncFiles", path).write_bytes(content)
    entries = area.manifest()
    entry = entries[("SyncFiles", path)]
    digest = hashlib.sha256(content).hexdigest()
    entries[("SyncFiles", path)] = replace(entry, sha256=digest, size=len(content))
    area.manifest_file.write_text(manifest.render(entries.values()))


def post(
    served: Served, path: str, user: str, fields: dict[str, str], cookie: str | None
) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(served.url + path, data=data, method="POST")
    request.add_header("Authorization", basic(user))
    if cookie:
        request.add_header("Cookie", cookie)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def form_token(served: Served, user: str) -> tuple[str, str]:
    """The CSRF cookie the page sets and the token of `user` for it (the one an operator's
    forms carry; a viewer's page has no forms, the token is made as the page would)."""
    code, body, headers = served.get("/", user)
    assert code == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = served.background.page.csrf.token(cookie.split("=", 1)[1], user)
    in_form = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
    assert (in_form.group(1) if in_form else token) == token
    return cookie, token


def test_the_grid_shows_every_server_and_the_service_state(site: Site, page: Served) -> None:
    code, body, headers = page.get("/", "bob")
    assert code == 200
    for role, address in (("PRI", "127.0.2.11"), ("SEC1", "127.0.2.12"), ("SEC2", "127.0.2.13")):
        assert f'href="/server/{role}"' in body and address in body
        assert "st-OK" in cell(body, f"{role}/app")
    assert 'id="banner-word">GO<' in body
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_a_critical_service_shows_red_with_its_reason_down_to_the_drill_down(
    site: Site, page: Served
) -> None:
    site.listeners["SEC1"].stop()
    site.verify()
    _, body, _ = page.get("/", "bob")
    sec1 = cell(body, "SEC1/app")
    assert "st-CRITICAL" in sec1 and "Connection refused" in sec1
    assert "st-OK" in cell(body, "SEC2/app")
    assert 'id="banner-word">NO-GO<' in body
    assert "SEC1: NOT ready" in html.unescape(re.sub(r"<[^>]+>", "", body))
    _, service, _ = page.get("/service/app", "bob")
    section = service.split('id="SEC1"')[1].split("</section>")[0]
    assert "CRITICAL" in section and f"127.0.2.12:{site.port}: Connection refused" in section
    _, ok, _ = page.get("/service/app", "bob")
    measured = ok.split('id="PRI"')[1].split("</section>")[0]
    # the measured values beside their thresholds (slow 0.5, unacceptable 1.5)
    assert re.search(
        r"<td>connect</td><td>[0-9.e-]+s</td><td>0.5</td><td>1.5</td><td>ok</td>", measured
    )
    api = page.json("/api/v1/services/app", "bob")
    assert isinstance(api, dict)
    assert {r["target_role"]: r["profile"]["status"] for r in api["latest"]} == {
        "PRI": "OK",
        "SEC1": "CRITICAL",
        "SEC2": "OK",
    }


def test_the_server_page_shows_validity_and_the_compare_diff_but_no_shadow_content(
    site: Site, page: Served
) -> None:
    pri = site.pri()
    area = pri.sid.area("SEC1", pri.env_id)  # what SEC1 sent back, as the PRI holds it
    app_conf = area.copy_path("SyncFiles", "/etc/app/app.conf")
    edit(area, "/etc/app/app.conf", b"level = 7\n")
    shadow = area.copy_path("SyncFiles", "/etc/shadow").read_bytes()
    edit(area, "/etc/shadow", shadow + b"mallory:$6$x$MalloryHash:1:0:9:7:::\n")
    assert app_conf.read_bytes() == b"level = 7\n"
    found = compare(pri, ["SEC1"])[0]
    assert {d.path for d in found.differences} >= {"/etc/app/app.conf", "/etc/shadow"}
    assert "MalloryHash" in next(d.diff for d in found.differences if d.path == "/etc/shadow")
    record = json.loads(pri.sid.last_cycle_file.read_text())  # the cycle's own record ...
    record["compare"][0] = found.as_dict()  # ... with this compare, as a cycle writes it
    pri.sid.last_cycle_file.write_text(json.dumps(record))
    _, body, _ = page.get("/server/SEC1", "bob")
    text = html.unescape(body)
    assert "<b>different</b>" in text and "/etc/app/app.conf" in text
    assert "-level = 3" in text and "+level = 7" in text
    assert re.search(r"\(SEC1, Env2\)</td><td>valid</td>", text)
    assert "MalloryHash" not in text and "diff withheld" in text
    assert "MalloryHash" not in page.get("/api/v1/servers/SEC1", "bob")[1]


def test_the_json_api_serves_the_same_overview(site: Site, page: Served) -> None:
    data = page.json("/api/v1/overview", "bob")
    assert isinstance(data, dict)
    assert data["group"] == "acme-office" and data["role"] == "PRI"
    assert [s[0] for s in data["servers"]] == ["PRI", "SEC1", "SEC2"]
    assert data["cells"]["SEC2/app"]["status"] == "OK"
    readiness = page.json("/api/v1/readiness", "bob")
    assert readiness == [
        {"sec": "SEC1", "ready": True, "reasons": []},
        {"sec": "SEC2", "ready": True, "reasons": []},
    ]
    events = page.json("/api/v1/events", "bob")
    assert isinstance(events, list)
    # nothing recorded yet but the daemon's sentence: the recorder runs after its turns
    assert [e["what"] for e in events] == ["daemon"] and events[0]["detail"] == "idle"
    record(site.pri())  # what the daemon does after its turn
    events = page.json("/api/v1/events", "bob")
    assert isinstance(events, list)
    cycle = [e for e in events if e["what"] == "cycle"]
    assert len(cycle) == 1 and "all equal (SEC1 equal, SEC2 equal)" in cycle[0]["detail"]
    code, body, _h = page.get("/events", "bob")
    assert code == 200 and "all equal (SEC1 equal, SEC2 equal)" in body
    # the recorder folded the results into the roll-ups: each cell's time strips
    assert data["cells"]["SEC2/app"]["strip24"] == []  # (the overview read before the fold)
    again = page.json("/api/v1/overview", "bob")  # the page's strips follow the new roll-ups
    assert isinstance(again, dict) and again["cells"]["SEC2/app"]["strip24"][-1] == "OK"
    cell = page.json("/api/v1/overview", "bob")["cells"]["SEC2/app"]  # type: ignore[index]
    assert len(cell["strip24"]) == 24 and len(cell["strip90"]) == 90
    assert "OK" in cell["strip24"][-2:] and "OK" in cell["strip90"][-2:]  # (an hour may turn)
    assert set(cell["strip24"][:-2]) == {"NONE"}  # no results before
    assert 'class="strip"' in page.get("/", "bob")[1]


def test_without_credentials_or_with_wrong_ones_nothing_is_shown(page: Served) -> None:
    code, body, headers = page.get("/")
    assert code == 401 and "Basic" in headers["www-authenticate"] and "app" not in body
    code, _, _ = page.get("/api/v1/overview", headers={"Authorization": "Basic Ym9iOndyb25n"})
    assert code == 401
    assert page.get("/metrics")[0] == 401


def test_a_page_without_auth_answers_only_for_its_loopback_names(site: Site) -> None:
    port = free_port()
    served = serve(site.configure(web_section(f"127.0.0.1:{port}")))
    try:
        assert served.get("/")[0] == 200
        assert served.get("/", headers={"Host": f"localhost:{port}"})[0] == 200
        code, body, _ = served.get("/", headers={"Host": "attacker.example"})
        assert code == 421 and "loopback" in body  # DNS rebinding gets nothing
        # the anonymous viewer sees no actions and cannot act
        _, body, _ = served.get("/")
        assert "anonymous (viewer)" in body and "/actions/suspend" not in body
    finally:
        served.background.stop()


def test_the_operator_suspends_and_resumes_from_the_page(site: Site, page: Served) -> None:
    cookie, token = form_token(page, "alice")
    code, _ = post(
        page, "/actions/suspend", "alice", {"csrf": token, "reason": "disk swap"}, cookie
    )
    assert code == 303
    flag = suspended(site.pri())
    assert flag is not None and "disk swap" in flag["reason"] and "alice" in flag["reason"]
    _, body, _ = page.get("/", "alice")
    assert "Suspended" in body and 'id="resume"' in body
    code, _ = post(page, "/actions/resume", "alice", {"csrf": token}, cookie)
    assert code == 303 and suspended(site.pri()) is None


def test_the_viewer_cannot_act(site: Site, page: Served) -> None:
    _, body, _ = page.get("/", "bob")
    assert "/actions/suspend" not in body  # no buttons for a viewer
    cookie, token = form_token(page, "bob")
    code, body = post(page, "/actions/suspend", "bob", {"csrf": token, "reason": "x"}, cookie)
    assert code == 403 and "operator role" in body
    assert suspended(site.pri()) is None
    code, _ = post(page, "/actions/cycle", "bob", {"csrf": token}, cookie)
    assert code == 403 and take_cycle_request(site.pri()) is None


@pytest.mark.parametrize("case", ["missing", "wrong", "no-cookie", "another-user"])
def test_an_action_without_its_csrf_token_is_refused(site: Site, page: Served, case: str) -> None:
    cookie, token = form_token(page, "alice")
    fields = {"reason": "csrf"}
    if case == "wrong":
        fields["csrf"] = "0" * 64
    elif case in ("no-cookie", "another-user"):
        fields["csrf"] = token
    if case == "no-cookie":
        cookie = ""
    if case == "another-user":  # bob's token, replayed by alice's session: not hers
        cookie, fields["csrf"] = form_token(page, "bob")
    code, body = post(page, "/actions/suspend", "alice", fields, cookie)
    assert code == 403 and "CSRF" in body
    assert suspended(site.pri()) is None


def test_run_a_cycle_now_is_a_request_the_daemon_takes(site: Site, page: Served) -> None:
    cookie, token = form_token(page, "alice")
    code, _ = post(page, "/actions/cycle", "alice", {"csrf": token}, cookie)
    assert code == 303
    _, body, _ = page.get("/?done=cycle", "alice")
    assert "SyncCycle requested" in body
    asked = take_cycle_request(site.pri())
    assert asked is not None and asked["by"] == "alice"
    assert take_cycle_request(site.pri()) is None


def test_a_suspension_by_the_cli_reaches_the_banner(site: Site, page: Served) -> None:
    suspend(site.pri(), "by hand")
    _, body, _ = page.get("/", "bob")
    banner = html.unescape(body.split('id="banner"')[1].split("</section>")[0])
    assert 'class="banner st-WARNING"' in banner and 'id="banner-word">GO<' in banner
    assert re.search(r"PRI sync: suspended by A since [0-9-]+ [0-9:]+Z: by hand", banner)
