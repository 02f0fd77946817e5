"""`atlas-ha demo` on the namespace lab (issue 11 item 7): every server's daemon serves its
status page behind the lab's token, each act ends with the PRI's banner and readiness from
its status model, and in Scenario 1 (SEC1 down) the alert reaches the lab's SMTP sink, whose
Maildir holds the message (checked here from the sink, not from the demo's words)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.lab import pages, smtp_sink
from atlas_ha.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    if (
        os.geteuid() != 0
        or not shutil.which("ip")
        or not Path("/usr/sbin/sshd").exists()
        or not Path("/usr/sbin/nginx").exists()
    ):
        pytest.skip("needs root, iproute2, OpenSSH's sshd and nginx")
    if smtp_sink.python() is None:
        pytest.skip("needs aiosmtpd for the lab's SMTP sink")
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-demo-test-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        yield base / "demo"
    finally:
        lab = Lab(base / "demo")
        if lab.state_file.exists():
            lab.down()
        shutil.rmtree(base)


def test_the_lab_demo_serves_pages_shows_go_no_go_and_mails_the_alert(demo_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "atlas_ha", "demo", "--dir", str(demo_dir)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = out.stdout
    assert out.returncode == 0, text[-4000:] + out.stderr[-2000:]
    assert "All 6 acts went as expected." in text
    lab = Lab(demo_dir)
    # the page's address at the start, and each server's page: 200 with the token, 401 without
    start = flat(text[: text.index("== Act 1")])
    assert "port 8470 of its own network namespace" in start
    assert "http://198.51.100.11:8470/ is the PRI's" in start
    act1 = flat(text[text.index("== Act 1") : text.index("== Act 2")])
    for name in ("A", "B", "C"):
        access = flat(pages.access(lab, name))
        assert f"status page of {name}: {access} answers HTTP 200 with the token" in act1
    assert act1.count("HTTP 401 without") == 3
    assert pages.fetch(lab, "C", "/api/v1/readiness")[0] == 200
    assert pages.fetch(lab, "C", token=False)[0] == 401
    # after each act: the PRI's banner and readiness, in its status model's words
    acts = [text.index(f"== Act {n} of 6") for n in range(1, 7)] + [text.index("== Result")]
    for (begin, end), pri in zip(itertools.pairwise(acts), "AABBCC", strict=True):
        part = flat(text[begin:end])
        assert f"status on {pri} (PRI): " in part and "readiness SEC2:" in part, pri
    steady = flat(text[acts[1] : acts[2]])
    assert "status on A (PRI): GO: " in steady and "readiness SEC1: READY" in steady
    scenario_1 = flat(text[acts[2] : acts[3]])
    assert "status on B (PRI): NO-GO (CRITICAL)" in scenario_1
    assert "readiness SEC1: NOT READY" in scenario_1 and "readiness SEC2: READY" in scenario_1
    last = json.loads(lab.atlas("C", ["status", "--json"]).stdout)["report"]
    assert [r["ready"] for r in last["readiness"]] == [True, True]
    assert "readiness SEC1: READY" in flat(text[acts[5] :])
    # the alert mail, as the sink received it (its Maildir), and as the demo showed it
    mail = smtp_sink.received(lab.sink_dir)
    about = [m for m in mail if "SEC1" in m.subject]
    assert about, [m.subject for m in mail]
    got = about[0]
    assert got.recipients == (smtp_sink.RECIPIENT,) and got.sender == smtp_sink.SENDER
    assert got.subject.startswith(smtp_sink.SUBJECT_PREFIX)
    assert any("acme-office/SEC1" in line for line in got.first_lines())
    shown = text[text.index("the SMTP sink received", acts[2]) : acts[3]]
    assert f"to {smtp_sink.RECIPIENT} from {smtp_sink.SENDER}: {got.subject!r}" in shown
    assert f"| {got.first_lines()[0][:40]}" in shown
    # the narration names the checks the go/no-go includes
    for name in ("files (smb:", "time (ntp:", "dbpage (http with db_page:"):
        assert name in flat(text), name
    services = lab.verify("C")
    assert {"files", "time", "dbpage"} <= {r["service"] for r in services}
