"""One reader, one model: the page, /api/v1, `atlas-ha status --json` and `atlas-ha check`
give the same banner and the same failover readiness for the same state (report/loader.py
gathers, report/model.py judges; the page's source only presents)."""

from __future__ import annotations

import html
import json
import re

from tests.web.site import Served, Site
from tests.web.test_serving import cli

from atlas_ha.sync.suspension import suspend


def page_verdict(page: Served) -> tuple[str, dict[str, list[str]]]:
    """The banner's text and each SEC's readiness reasons, as the page shows them."""
    _, body, _ = page.get("/", "bob")
    text = re.search(r'id="banner"[^>]* data-text="([^"]*)"', body)
    assert text is not None, body
    readiness = {}
    for sec, inner in re.findall(
        r'<li class="[a-z-]+" data-sec="(SEC[0-9]+)">(.*?)</ul></li>', body, re.S
    ):
        readiness[sec] = [html.unescape(r) for r in re.findall(r"<li>(.*?)</li>", inner)]
    return html.unescape(text.group(1)), readiness


def verdicts(site: Site, page: Served) -> list[tuple[str, dict[str, list[str]]]]:
    status = json.loads(cli(site, "status", "--json").stdout)["report"]
    api = page.json("/api/v1/overview", "bob")
    assert isinstance(api, dict)
    api_readiness = page.json("/api/v1/readiness", "bob")
    assert isinstance(api_readiness, list)
    return [
        (status["banner"], {r["sec"]: r["reasons"] for r in status["readiness"]}),
        (api["banner"]["text"], {r["sec"]: list(r["reasons"]) for r in api_readiness}),
        (api["report"]["banner"], {r["sec"]: r["reasons"] for r in api["report"]["readiness"]}),
        page_verdict(page),
    ]


def test_a_critical_service_is_one_verdict_everywhere(site: Site, page: Served) -> None:
    site.listeners["SEC1"].stop()
    site.verify()
    found = verdicts(site, page)
    banner, readiness = found[0]
    assert banner.startswith("NO-GO (CRITICAL): SEC1 app: ") and "Connection refused" in banner
    assert readiness["SEC2"] == [] and readiness["SEC1"][0].startswith("service app CRITICAL: ")
    assert all(one == found[0] for one in found), found
    check = cli(site, "check", "readiness")
    assert check.returncode == 2 and readiness["SEC1"][0] in check.stdout


def test_a_suspension_is_one_verdict_everywhere(site: Site, page: Served) -> None:
    suspend(site.pri(), "by hand")
    found = verdicts(site, page)
    banner, readiness = found[0]
    assert banner.startswith("GO (WARNING): PRI sync: suspended by A since ")
    assert all(r[0].startswith("suspended by A since ") for r in readiness.values())
    assert all(one == found[0] for one in found), found
    assert cli(site, "check", "suspended").returncode == 1
