"""The smtp kind against a real SMTP server (Debian's msmtpd) started on loopback."""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.verifier_kinds.conftest import (
    Daemons,
    free_port,
    no_server_ctx,
    service,
    target,
    wait_refused,
    wait_tcp,
)

from atlas_ha.verifier.kinds.smtp import SmtpVerifier
from atlas_ha.verifier.profile import Profile, Status

MSMTPD = "/usr/bin/msmtpd"
ADDRESS = "127.0.0.72"


def start_msmtpd(daemons: Daemons, command: str) -> tuple[int, subprocess.Popen[bytes]]:
    if not Path(MSMTPD).exists():
        pytest.skip("needs msmtpd (Debian package msmtp-mta)")
    port = free_port(ADDRESS)
    proc = daemons.start(
        [MSMTPD, f"--interface={ADDRESS}", f"--port={port}", f"--command={command}"], "msmtpd.log"
    )
    wait_tcp(ADDRESS, port)
    return port, proc


def check(port: int, timeout: float = 3.0, **options: object) -> Profile:
    svc = service("smtp", timeout=timeout, port=port, **options)
    return SmtpVerifier().verify(no_server_ctx(), svc, target(ADDRESS))


def test_test_message_is_accepted_and_delivered(daemons: Daemons, tmp_path: Path) -> None:
    mailbox = tmp_path / "mailbox"
    port, _proc = start_msmtpd(daemons, f"sh -c {shlex.quote(f'cat >> {mailbox}')}")
    profile = check(port, recipient="verify@acme.lan")
    assert profile.status is Status.OK, profile.summary
    assert "message accepted" in profile.summary
    assert {m.label for m in profile.measurements} == {"connect", "time"}
    delivered = mailbox.read_text()
    assert profile.data["message_id"] in delivered
    assert "X-Atlas-HA-Verifier: PRI -> SEC1 127.0.0.72" in delivered


def test_refused_message_is_critical(daemons: Daemons, tmp_path: Path) -> None:
    port, _proc = start_msmtpd(daemons, "false")  # the delivery command fails: DATA refused
    profile = check(port)
    assert profile.status is Status.CRITICAL
    assert "DATA refused: 554" in profile.summary, profile.summary


def test_stopped_service_is_critical(daemons: Daemons, tmp_path: Path) -> None:
    port, proc = start_msmtpd(daemons, f"sh -c 'cat > {tmp_path}/m'")
    assert check(port).status is Status.OK
    daemons.stop(proc)
    assert proc.poll() is not None
    wait_refused(ADDRESS, port)
    profile = check(port)
    assert profile.status is Status.CRITICAL and "refused" in profile.summary.lower()


def test_missing_capability_and_starttls_are_critical(daemons: Daemons, tmp_path: Path) -> None:
    port, _proc = start_msmtpd(daemons, f"sh -c 'cat > {tmp_path}/m'")
    profile = check(port, require=["PIPELINING"], send=False)
    assert profile.status is Status.CRITICAL and "['PIPELINING'] not offered" in profile.summary
    profile = check(port, starttls=True)
    assert profile.status is Status.CRITICAL
    assert "STARTTLS is required but not offered" in profile.summary
    assert not (tmp_path / "m").exists()  # nothing was sent without the required TLS


def test_hung_service_times_out_within_the_timeout() -> None:
    with socket.socket() as hung:
        hung.bind((ADDRESS, 0))
        hung.listen(1)  # accepts TCP (backlog), never greets
        started = time.monotonic()
        profile = check(hung.getsockname()[1], timeout=0.5)
        elapsed = time.monotonic() - started
    assert profile.status is Status.CRITICAL
    assert "no answer within 0.5 s (connect)" in profile.summary
    assert elapsed < 1.0


def test_bad_options_are_unknown() -> None:
    assert check(25, starttls="yes").status is Status.UNKNOWN
    assert check(0).status is Status.UNKNOWN


AIOSMTPD_PYTHON = "/usr/bin/python3"  # Debian's python3-aiosmtpd: an SMTP server with STARTTLS


def start_tls_server(daemons: Daemons, tmp_path: Path) -> tuple[int, Path, Path]:
    """aiosmtpd with STARTTLS (a self-signed certificate for the address) delivering into a
    maildir; returns (port, certificate, maildir)."""
    probe = subprocess.run([AIOSMTPD_PYTHON, "-c", "import aiosmtpd"], check=False)
    if probe.returncode != 0:
        pytest.skip("needs Debian's python3-aiosmtpd")
    cert, key, maildir = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "Maildir"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=mail.test", "-addext",
         f"subjectAltName=IP:{ADDRESS}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port(ADDRESS)
    daemons.start(
        [AIOSMTPD_PYTHON, "-m", "aiosmtpd", "-n", "-l", f"{ADDRESS}:{port}",
         "--tlscert", str(cert), "--tlskey", str(key),
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        "aiosmtpd.log",
    )  # fmt: skip
    wait_tcp(ADDRESS, port)
    return port, cert, maildir


def test_starttls_with_a_trusted_certificate(daemons: Daemons, tmp_path: Path) -> None:
    port, cert, maildir = start_tls_server(daemons, tmp_path)
    profile = check(port, starttls=True, ca_file=str(cert), require=["8BITMIME"])
    assert profile.status is Status.OK, profile.summary
    assert "STARTTLS ok" in profile.details
    delivered = [p.read_text() for p in (maildir / "new").iterdir()]
    assert len(delivered) == 1 and profile.data["message_id"] in delivered[0]


def test_starttls_with_an_untrusted_certificate_is_critical(
    daemons: Daemons, tmp_path: Path
) -> None:
    port, _cert, maildir = start_tls_server(daemons, tmp_path)
    profile = check(port, starttls=True)  # verified against the system CAs: self-signed fails
    assert profile.status is Status.CRITICAL
    assert "STARTTLS failed: CERTIFICATE_VERIFY_FAILED" in profile.summary, profile.summary
    assert not (maildir / "new").exists() or not list((maildir / "new").iterdir())
