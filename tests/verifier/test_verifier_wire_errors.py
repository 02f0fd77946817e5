"""The wire formats the Verifier parses never escape a verifier kind: a malformed HTTP
answer, synced probe list, DNS name, plugin output or perfdata becomes a CRITICAL or UNKNOWN
profile naming the reason (the parse errors are internal: tests/unit/test_errors.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.dns import DnsVerifier
from atlas_ha.verifier.kinds.http import HttpVerifier
from atlas_ha.verifier.kinds.httpwire import Connection, HttpError
from atlas_ha.verifier.kinds.nagios import NagiosVerifier
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.services import ServiceDef

TARGET = Target("PRI", "127.0.0.1")
RECORD = "var/lib/atlas-ha/verifier/web.json"


@pytest.fixture
def answering() -> Iterator[list[bytes]]:
    """A loopback server answering each connection's request with the next of `answers`
    (append them), then closing; its port is answers' first item."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    answers: list[bytes] = [str(listener.getsockname()[1]).encode()]

    def loop() -> None:
        n = 1
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                    data += chunk
                conn.sendall(answers[min(n, len(answers) - 1)])
                n += 1

    threading.Thread(target=loop, daemon=True).start()
    yield answers
    listener.close()


def get(port: int) -> tuple[int, bytes]:
    return Connection("127.0.0.1", port, time.monotonic() + 5).get("/", {"Host": "x"})


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab", "Content-Length '\xb2'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\nab", "Content-Length '1_0'"),
        (b"HTTP/1.1 \xb200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nab", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nab", "bad chunk size"),
    ],
)
def test_malformed_answers_are_http_errors(
    answering: list[bytes], answer: bytes, reason: str
) -> None:
    answering.append(answer)
    with pytest.raises(HttpError, match=reason.replace(".", r"\.")):
        get(int(answering[0]))


def write_record(ctx: Context, record: object) -> None:
    path = ctx.in_root(RECORD)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def probe(port: int) -> dict[str, object]:
    return {
        "host": "",
        "port": port,
        "tls": False,
        "url": "/atlas-ha-verify.html",
        "access": "public",
        "file": None,
        "where": "test",
    }


def test_a_malformed_http_answer_is_a_critical_probe(ctx: Context, answering: list[bytes]) -> None:
    answering.append(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab")
    write_record(ctx, {"token": "t", "probes": [probe(int(answering[0]))]})
    sec = Context(ctx.server, "SEC1")  # a SEC judges tokens without the PRI's state
    profile = HttpVerifier().verify(sec, ServiceDef("web", "http", timeout=5), TARGET)
    assert profile.status == Status.CRITICAL
    assert "HttpError: Content-Length '\xb2' is not a number" in profile.summary, profile


@pytest.mark.parametrize(
    "record",
    [
        "not json",
        {"token": "t"},
        {"token": "t", "probes": [{"port": 0}]},
        {"token": "t", "probes": [{**probe(80), "url": "/x HTTP/1.1\r\nHost: evil"}]},
    ],
)
def test_a_malformed_probe_list_is_unknown(ctx: Context, record: object) -> None:
    if isinstance(record, str):
        ctx.in_root(RECORD).parent.mkdir(parents=True)
        ctx.in_root(RECORD).write_text(record)
    else:
        write_record(ctx, record)
    profile = HttpVerifier().verify(ctx, ServiceDef("web", "http"), TARGET)
    assert profile.status == Status.UNKNOWN
    assert profile.summary.startswith(f"verifier data malformed: /{RECORD}: "), profile


@pytest.mark.parametrize(
    ("name", "reason"),
    [("a..b", "label '': 1 to 63 bytes"), ("x" * 64 + ".lan", "label 'xxxxx")],
)
def test_a_dns_name_that_cannot_be_asked_is_the_services_error(
    ctx: Context, name: str, reason: str
) -> None:
    service = ServiceDef("dns", "dns", options={"name": name})
    profile = DnsVerifier().verify(ctx, service, TARGET)
    assert profile.status == Status.UNKNOWN
    assert profile.summary.startswith("service dns: options.name: label"), profile
    assert reason in profile.summary
    assert "malformed answer" not in profile.summary


def plugin(tmp_path: Path, script: str, mode: int = 0o755) -> ServiceDef:
    path = tmp_path / "check_thing"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(mode)
    return ServiceDef("thing", "nagios", timeout=5, options={"command": [str(path)]})


def test_plugin_output_that_is_not_utf8_still_gives_its_status(
    ctx: Context, tmp_path: Path
) -> None:
    service = plugin(tmp_path, "printf 'WARNING caf\\351 | t=1s;;;\\n'\nexit 1\n")
    profile = NagiosVerifier().verify(ctx, service, TARGET)
    assert profile.status == Status.WARNING
    assert profile.summary == "WARNING caf\ufffd"
    assert [m.label for m in profile.measurements] == ["t"]


def test_malformed_perfdata_is_named_in_the_details(ctx: Context, tmp_path: Path) -> None:
    service = plugin(tmp_path, "echo 'OK fine | a=1;;; b=x c=2;5:1'\nexit 0\n")
    profile = NagiosVerifier().verify(ctx, service, TARGET)
    assert profile.status == Status.OK
    assert [m.label for m in profile.measurements] == ["a"]
    assert "perfdata: perfdata 'b=x': value 'x' is not a number[UOM]" in profile.details
    assert "perfdata: perfdata 'c=2;5:1': warn range '5:1': start 5 is above end 1" in (
        profile.details
    )


def test_a_plugin_that_cannot_run_is_unknown(ctx: Context, tmp_path: Path) -> None:
    service = plugin(tmp_path, "exit 0\n", mode=0o644)
    profile = NagiosVerifier().verify(ctx, service, TARGET)
    assert profile.status == Status.UNKNOWN
    assert profile.summary == f"{tmp_path / 'check_thing'}: cannot run: Permission denied"
