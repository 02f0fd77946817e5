"""Configuration checkers (issue 13 item 3) in the lab, with real nginx: A Env2 PRI, B Env1
SEC1, C Env3 SEC2, one nginx per server, all the same binary.

The real case chosen: the site includes `snippets/acme-headers.conf`, a file the Debian-like
environments (Env2, Env3) ship in their own /etc/nginx/snippets/ and the RHEL-like Env1 does
not (as Debian's nginx package ships snippets/ and RHEL's does not). snippets/ is Bound Data
of each server (not synced), so the synced site is valid on A and C and rejected by B's
`nginx -t`, which fails to open the include. B must keep running its last good configuration:
it still answers /probe with the old text, while C answers with the new one."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from tests.lab.conftest import running_lab

from atlas_ha.lab import client, services
from atlas_ha.lab.lab import ADDRESSES, Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROLES = {"A": "PRI", "B": "SEC1", "C": "SEC2"}
SNIPPET = "/etc/nginx/snippets/acme-headers.conf"
VALIDATE = [
    services.NGINX,
    "-t",
    "-q",
    "-p",
    "{root}/../run/",
    "-e",
    "/dev/null",  # not B's error log: an [emerg] there means a reload was tried
    "-c",
    "{root}/etc/nginx/nginx.conf",
]
PROBE_V1 = '    location = /probe { return 200 "config v1\\n"; }\n'
PROBE_V2 = (
    "    include snippets/acme-headers.conf;\n"
    '    location = /probe { return 200 "config v2\\n"; }\n'
)


def site(lab: Lab, name: str) -> str:
    env = lab.servers()[name]["env"]
    return "/etc/nginx/conf.d/www.conf" if env == 1 else "/etc/nginx/sites-enabled/www"


def set_probe(lab: Lab, text: str, answer: str) -> None:
    """The PRI's site, with `text` as its /probe (replacing the earlier one); its operator
    reloads the PRI's nginx (a cycle never reloads the PRI)."""
    path = lab.group.servers["A"].file(site(lab, "A"))
    lines = path.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if "/probe" not in ln and "snippets/" not in ln]
    at = next(i for i, ln in enumerate(kept) if "server_name" in ln) + 1
    path.write_text("".join(kept[:at]) + text + "".join(kept[at:]))
    os.kill(lab.servers()["A"]["nginx_pid"], signal.SIGHUP)  # by PID: the lab's master
    deadline = time.monotonic() + 10
    while probe(lab, "A", check=False) != answer:
        assert time.monotonic() < deadline, "A's nginx did not reload"
        time.sleep(0.2)


def probe(lab: Lab, name: str, check: bool = True) -> str:
    status, _header, body = client.http(lab, ADDRESSES[ROLES[name]], "/probe")
    assert status == 200 or not check, (name, status, body)
    return body.strip()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("atlas-ha-lab-validate-") as up:
        for name in ("A", "C"):  # the Debian-like environments ship the snippet
            snippet = up.group.servers[name].file(SNIPPET)
            snippet.parent.mkdir(parents=True, exist_ok=True)
            snippet.write_text('add_header X-Acme-Env "debian-like";\n')
        services_file = up.group.servers["A"].file("/etc/atlas-ha/services.toml")
        text = services_file.read_text()
        validate = f"validate = {json.dumps(VALIDATE)}"
        services_file.write_text(text.replace('kind = "http"', f'kind = "http"\n{validate}', 1))
        set_probe(up, PROBE_V1, "config v1")
        report = up.cycle("A")
        assert [c["rejected"] for c in report["compare"]] == [[], []]
        assert report["pri_rejected"] == []
        assert [probe(up, n) for n in "ABC"] == ["config v1"] * 3
        yield up


def test_a_config_one_environment_rejects_is_not_reloaded_there(lab: Lab) -> None:
    set_probe(lab, PROBE_V2, "config v2")
    report = lab.cycle("A")
    assert report["pri_rejected"] == []  # A's nginx accepts it
    sec1, sec2 = report["compare"]
    assert sec2["rejected"] == []
    (line,) = sec1["rejected"]
    assert line.startswith("web: installed but rejected by nginx -t -q on SEC1 (Env1): ")
    assert "/etc/nginx/conf.d/www.conf line " in line and "acme-headers.conf" in line
    assert "No such file or directory" in line
    b = lab.group.servers["B"]
    assert "snippets/acme-headers.conf" in b.file(site(lab, "B")).read_text()  # installed
    owed = json.loads((b.base / "esd" / "owed-reloads.json").read_text())["paths"]
    assert site(lab, "B") in owed
    # no reload was tried on B (nginx's own reload would refuse too, logging it here) ...
    error_log = b.base / "run" / "nginx-error.log"
    assert "acme-headers" not in (error_log.read_text() if error_log.exists() else "")
    # ... and the running nginx on B kept its last good configuration; C's runs the new one
    assert probe(lab, "B") == "config v1"
    assert probe(lab, "C") == "config v2"
    assert probe(lab, "A") == "config v2"

    # B's own verifier: the check web:config@SEC1 is CRITICAL naming the file and line
    out = lab.atlas("B", ["verify", "run", "--service", "web", "--json"], (22,))
    (config,) = [r for r in json.loads(out.stdout)["results"] if r["service"] == "web:config"]
    assert config["target_role"] == "SEC1" and config["profile"]["status"] == "CRITICAL"
    assert "/etc/nginx/conf.d/www.conf line" in config["profile"]["summary"]
    assert "keeps its last good configuration" in config["profile"]["details"]

    # the environment gets the snippet: the next Install passes the check and reloads
    snippet = b.file(SNIPPET)
    snippet.parent.mkdir(parents=True, exist_ok=True)
    snippet.write_text('add_header X-Acme-Env "added";\n')
    report = lab.cycle("A")
    assert [c["rejected"] for c in report["compare"]] == [[], []]
    assert probe(lab, "B") == "config v2"
    assert not (b.base / "esd" / "owed-reloads.json").exists()


def sentry_details(lab: Lab, name: str) -> str:
    out = lab.atlas(name, ["verify", "run", "--service", "sentry", "--json"], (21, 22, 23))
    rows = json.loads(out.stdout)["results"]
    (own,) = [r for r in rows if r["target_role"] == ROLES[name]]
    return str(own["profile"]["details"])


def test_an_os_upgrade_on_a_lab_server_is_drift_until_confirmed(lab: Lab) -> None:
    b = lab.group.servers["B"]
    assert "Env1 as recorded" in sentry_details(lab, "B")  # `init` recorded the fingerprint
    release = b.file("/etc/os-release")
    release.write_text('PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\nVERSION_ID="9.4"\n')
    details = sentry_details(lab, "B")
    assert "WARNING: environment drift since Env1 was recorded: os: " in details
    assert "'Rocky Linux 9.4 (Blue Onyx)'" in details and "define Env2" in details
    out = lab.atlas("B", ["env", "confirm"])
    assert "confirmed os: " in out.stdout
    assert "environment drift" not in sentry_details(lab, "B")
