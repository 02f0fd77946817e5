"""The alert channels against real things: the email channel through a real SMTP server
(aiosmtpd; STARTTLS with a self-signed certificate and AUTH; an unreachable server), the
program channel with a real script; the plugin family and the optional apprise extra."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.alerts.conftest import PASSWORD, USER, Sink, free_port

from atlas_ha import plugins
from atlas_ha.errors import AlertRulesError, ChannelError
from atlas_ha.report.alerts.channels.mail import EmailChannel
from atlas_ha.report.alerts.channels.program import ProgramChannel
from atlas_ha.report.alerts.deliver import build
from atlas_ha.report.alerts.model import CRITICAL, PROBLEM, Alert, Notification
from atlas_ha.report.alerts.rules import parse

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SOURCE = Path("/etc/atlas-ha/alerts.toml")


def note() -> Notification:
    alerts = (
        Alert(PROBLEM, "acme/SEC1/web", "SEC1", CRITICAL, "connection refused on :80", NOW),
        Alert(PROBLEM, "acme/SEC1/db", "SEC1", CRITICAL, "no answer on :5432", NOW),
    )
    return Notification("SEC1", alerts)


def test_email_is_delivered_with_subject_recipients_and_body(smtp_sink: Sink) -> None:
    channel = EmailChannel(
        "mail",
        {
            "host": "127.0.0.1",
            "port": smtp_sink.port,
            "starttls": False,
            "from": "atlas@acme.test",
            "to": ["ops@acme.test", "boss@acme.test"],
        },
        SOURCE,
    )
    detail = channel.send(note())
    assert "ops@acme.test" in detail
    (got,) = smtp_sink.received
    assert got.sender == "atlas@acme.test"
    assert got.recipients == ["ops@acme.test", "boss@acme.test"]
    assert got.message["Subject"] == "[ATLAS] ATLAS SEC1: 2 alerts, worst CRITICAL"
    body = got.message.get_payload(decode=True).decode()
    assert "[problem] acme/SEC1/web CRITICAL: connection refused on :80" in body
    assert "[problem] acme/SEC1/db CRITICAL: no answer on :5432" in body


def test_email_over_starttls_with_authentication(tls_sink: Sink, tmp_path: Path) -> None:
    password = tmp_path / "smtp-password"
    password.write_text(PASSWORD + "\n")
    channel = EmailChannel(
        "mail",
        {
            "host": "127.0.0.1",
            "port": tls_sink.port,
            "starttls": True,
            "cafile": str(tls_sink.cert),
            "user": USER,
            "password_file": str(password),
            "from": "atlas@acme.test",
            "to": "ops@acme.test",
        },
        SOURCE,
    )
    channel.send(note())
    assert tls_sink.logins == [USER]  # the login happened, over TLS (the server requires it)
    assert [r.recipients for r in tls_sink.received] == [["ops@acme.test"]]


def test_a_wrong_password_is_a_channel_error(tls_sink: Sink, tmp_path: Path) -> None:
    password = tmp_path / "smtp-password"
    password.write_text("wrong\n")
    channel = EmailChannel(
        "mail",
        {
            "host": "127.0.0.1",
            "port": tls_sink.port,
            "cafile": str(tls_sink.cert),
            "user": USER,
            "password_file": str(password),
            "from": "a@acme.test",
            "to": "ops@acme.test",
            "timeout": 2,
        },
        SOURCE,
    )
    # smtplib tries PLAIN, then LOGIN (which this aiosmtpd answers by waiting): an error either way
    with pytest.raises(ChannelError, match=r"mail: 127.0.0.1:\d+: SMTP"):
        channel.send(note())
    assert tls_sink.received == []


def test_starttls_refuses_a_certificate_it_cannot_verify(tls_sink: Sink) -> None:
    channel = EmailChannel(
        "mail",
        {"host": "127.0.0.1", "port": tls_sink.port, "from": "a@acme.test", "to": "o@acme.test"},
        SOURCE,
    )
    with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED"):
        channel.send(note())


def test_an_unreachable_mail_server_is_a_channel_error_naming_it() -> None:
    port = free_port()
    channel = EmailChannel(
        "mail",
        {"host": "127.0.0.1", "port": port, "from": "a@x.test", "to": "o@x.test", "timeout": 2},
        SOURCE,
    )
    with pytest.raises(ChannelError, match=rf"mail: 127.0.0.1:{port}: ConnectionRefusedError"):
        channel.send(note())


def test_email_options_are_validated_naming_the_option() -> None:
    with pytest.raises(AlertRulesError, match=r"channels\.mail: to = a string or a non-empty"):
        EmailChannel("mail", {"host": "h", "from": "a@x"}, SOURCE)
    with pytest.raises(AlertRulesError, match=r"channels\.mail: colour = not an option"):
        EmailChannel("mail", {"host": "h", "from": "a@x", "to": "b@x", "colour": 1}, SOURCE)


def test_the_program_channel_gets_the_alert_as_json_and_its_output_is_recorded(
    tmp_path: Path,
) -> None:
    script = tmp_path / "page.py"
    got = tmp_path / "got.json"
    script.write_text(
        "import json, sys\n"
        f"data = json.load(sys.stdin)\nopen({str(got)!r}, 'w').write(json.dumps(data))\n"
        "print('paged', len(data['alerts']))\nprint('warn: slow pager', file=sys.stderr)\n"
    )
    channel = ProgramChannel("pager", {"command": [sys.executable, str(script)]}, SOURCE)
    detail = channel.send(note())
    data = json.loads(got.read_text())
    assert [a["subject"] for a in data["alerts"]] == ["acme/SEC1/web", "acme/SEC1/db"]
    assert data["title"] == "ATLAS SEC1: 2 alerts, worst CRITICAL"
    assert "stdout: paged 2" in detail and "stderr: warn: slow pager" in detail


def test_a_failing_or_hanging_program_is_a_channel_error_with_its_output(tmp_path: Path) -> None:
    failing = ProgramChannel(
        "pager",
        {
            "command": [
                sys.executable,
                "-c",
                "import sys; print('no route', file=sys.stderr); sys.exit(3)",
            ]
        },
        SOURCE,
    )
    with pytest.raises(ChannelError, match="exited 3; stderr: no route"):
        failing.send(note())
    hanging = ProgramChannel(
        "pager",
        {"command": [sys.executable, "-c", "import time; time.sleep(30)"], "timeout": 0.5},
        SOURCE,
    )
    with pytest.raises(ChannelError, match=r"timed out after 0\.5 s"):
        hanging.send(note())
    missing = ProgramChannel("pager", {"command": [str(tmp_path / "nope")]}, SOURCE)
    with pytest.raises(ChannelError, match="cannot run"):
        missing.send(note())


def test_channels_are_plugins_and_a_missing_extra_disables_only_its_channel() -> None:
    assert {"email", "program", "apprise"} <= set(plugins.names(plugins.ALERT_CHANNELS))
    rules = parse(
        '[channels.mail]\ntype = "email"\nhost = "h"\nfrom = "a@x"\nto = "b@x"\n'
        '[channels.chat]\ntype = "apprise"\nurls_file = "/etc/atlas-ha/apprise-urls"\n'
        '[channels.odd]\ntype = "carrier-pigeon"\n',
        SOURCE,
    )
    built = build(rules, SOURCE)
    assert sorted(built.channels) == ["mail"]
    try:
        import apprise  # noqa: F401
    except ImportError:
        assert "pip install 'atlas-ha[apprise]'" in built.disabled["chat"]
    assert "no backend 'carrier-pigeon'" in built.disabled["odd"]
