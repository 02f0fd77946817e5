"""The alerts on the status page: the active ones, silences and failing channels shown; an
operator acknowledges an alert and silences subjects (operator role and CSRF token, else
403); an unreachable mail server is an error on the page and in the event log, and the
round that met it returns."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from tests.web.site import Served, Site, free_port
from tests.web.test_pages import form_token, post

from atlas_ha.report.alerts import store
from atlas_ha.report.alerts.round import AlertRounds
from atlas_ha.verifier.services import ALERT_RULES_PATH

SUBJECT = "acme-office/SEC1/app"


def alert_rules(site: Site, tmp: Path, mail_port: int | None = None) -> Path:
    """failures = 1; a program channel appending each notification to a file (and a mail
    channel to `mail_port` when given)."""
    out = tmp / "notes.jsonl"
    script = tmp / "note.py"
    script.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    text = "[defaults]\nfailures = 1\n"
    text += f'[channels.log]\ntype = "program"\ncommand = [{sys.executable!r}, {str(script)!r}]\n'
    if mail_port is not None:
        text += (
            f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {mail_port}\n'
            'starttls = false\nfrom = "atlas@acme.test"\nto = ["ops@acme.test"]\ntimeout = 3\n'
        )
    path = site.group.servers["A"].file(ALERT_RULES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return out


def alerts_section(body: str) -> str:
    return html.unescape(body.split('<section id="alerts">')[1].split("</section>")[0])


def test_an_operator_acknowledges_and_silences_from_the_page(
    site: Site, page: Served, tmp_path: Path
) -> None:
    alert_rules(site, tmp_path)
    site.listeners["SEC1"].stop()
    site.verify()
    assert AlertRounds().round(site.pri()).notifications >= 1
    _, body, _ = page.get("/", "bob")
    section = alerts_section(body)
    assert f'data-subject="{SUBJECT}"' in section and "CRITICAL" in section
    assert "Acknowledge" not in section and 'id="silence"' not in section  # a viewer
    cookie, token = form_token(page, "alice")
    assert "Acknowledge" in alerts_section(page.get("/", "alice")[1])
    ack = {"csrf": token, "subject": SUBJECT, "reason": "replacing the NIC"}
    # refused: a viewer; a missing or wrong CSRF token; a subject without an active alert
    assert post(page, "/actions/acknowledge", "bob", ack, cookie)[0] == 403
    assert post(page, "/actions/acknowledge", "alice", {**ack, "csrf": "0" * 64}, cookie)[0] == 403
    code, why = post(page, "/actions/acknowledge", "alice", {**ack, "subject": "x/y"}, cookie)
    assert code == 409 and "no active alert of &#39;x/y&#39;" in why
    assert store.load(site.pri().sid).engine.acks == {}
    assert post(page, "/actions/acknowledge", "alice", ack, cookie)[0] == 303
    acked = store.load(site.pri().sid).engine.acks[SUBJECT]
    assert (acked.by, acked.hard) == ("alice", "CRITICAL")
    section = alerts_section(page.get("/?done=acknowledged", "alice")[1])
    assert "acknowledged by alice: replacing the NIC" in section
    silence = {"csrf": token, "match": "acme-office/SEC2/*", "for": "2h", "reason": "new disk"}
    assert post(page, "/actions/silence", "bob", silence, cookie)[0] == 403
    code, why = post(page, "/actions/silence", "alice", {**silence, "for": "soon"}, cookie)
    assert code == 409 and "a duration like 90s" in why
    assert post(page, "/actions/silence", "alice", silence, cookie)[0] == 303
    (held,) = store.load(site.pri().sid).engine.silences
    assert (held.match, held.by, held.reason) == ("acme-office/SEC2/*", "alice", "new disk")
    section = alerts_section(page.get("/", "bob")[1])
    assert re.search(r"acme-office/SEC2/\* until [0-9-]+ [0-9:]+ UTC by alice: new disk", section)


def test_an_unreachable_mail_server_is_an_error_on_the_page_and_in_the_event_log(
    site: Site, page: Served, tmp_path: Path
) -> None:
    alert_rules(site, tmp_path, mail_port=free_port())  # nobody listens there
    site.listeners["SEC1"].stop()
    site.verify()
    sentence = AlertRounds().after(site.pri(), "turn")  # returns: no exception escapes
    assert "failed: mail" in sentence
    _, body, _ = page.get("/", "bob")
    errors = re.findall(r'<p class="error channel-failing" data-channel="mail">(.*?)</p>', body)
    assert len(errors) == 1 and "ConnectionRefusedError" in html.unescape(errors[0])
    _, events, _ = page.get("/events", "bob")
    assert re.search(r"mail: failed - ATLAS problem: acme-office/SEC1/app CRITICAL", events)
