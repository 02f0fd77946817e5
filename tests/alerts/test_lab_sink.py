"""The lab's SMTP sink (lab/smtp_sink.py): a real aiosmtpd process the lab starts and stops by
PID, keeping what it receives in a Maildir; the lab's alert rules (parsed by the rules
parser, their channel built by its plugin) deliver to it. Here on a loopback port of this
host; the lab runs it on its client host (tests/lab/test_lab_demo.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.alerts.conftest import free_port

from atlas_ha.lab import host, smtp_sink
from atlas_ha.report.alerts.deliver import build
from atlas_ha.report.alerts.model import CRITICAL, PROBLEM, Alert, Notification
from atlas_ha.report.alerts.rules import parse

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SOURCE = Path("/etc/atlas-ha/alerts.toml")


def test_the_lab_rules_mail_the_sink_which_keeps_the_message_with_its_envelope(
    tmp_path: Path,
) -> None:
    python = smtp_sink.python()
    if python is None:
        pytest.skip("needs aiosmtpd (the dev dependencies, or Debian's python3-aiosmtpd)")
    port = free_port()
    pid = smtp_sink.start([], python, "127.0.0.1", port, tmp_path / "sink")
    try:
        rules = parse(smtp_sink.rules("127.0.0.1", port), SOURCE)
        assert rules.default.failures == 1  # the lab announces at the first result
        built = build(rules, SOURCE)
        assert not built.disabled, built.disabled
        alert = Alert(PROBLEM, "acme-office/SEC1", "SEC1", CRITICAL, "unreachable", NOW)
        built.channels["mail"].send(Notification("SEC1", (alert,)))
        (got,) = smtp_sink.received(tmp_path / "sink")
    finally:
        host.stop(pid)
    assert got.recipients == (smtp_sink.RECIPIENT,) and got.sender == smtp_sink.SENDER
    assert got.subject == "[ATLAS lab] ATLAS problem: acme-office/SEC1 CRITICAL"
    assert got.first_lines(1) == ["[problem] acme-office/SEC1 CRITICAL: unreachable"]
    assert b"Server is listening" in (tmp_path / "sink" / "smtp.log").read_bytes()  # own log
    assert smtp_sink.received(tmp_path / "nothing") == []
