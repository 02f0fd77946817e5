"""The ssh kind without sshd: known_hosts reading (plain, hashed, @revoked), the verifier
key line, a hung server, bad options."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.ssh import (
    VERIFIER_ANSWER,
    SshVerifier,
    known_keys,
    owners,
    verifier_authorized_line,
)
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.services import ServiceDef

PRI = "ssh-ed25519 AAAAPRI"
SEC1 = "ssh-ed25519 AAAASEC1"


def test_plain_entries_by_alias() -> None:
    text = f"# comment\natlas-PRI {PRI}\natlas-SEC1,other {SEC1} c\n\n@revoked atlas-PRI {SEC1}\n"
    keys = known_keys(text, "atlas-PRI")
    assert [(k.blob, k.revoked) for k in keys] == [("AAAAPRI", False), ("AAAASEC1", True)]
    assert [k.blob for k in known_keys(text, "OTHER")] == ["AAAASEC1"]
    assert owners(text, "ssh-ed25519", "AAAASEC1") == ["atlas-SEC1", "other"]
    assert known_keys(text, "atlas-SEC2") == []


def real_key(tmp_path: Path, name: str) -> str:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def test_hashed_entries_match_their_alias(tmp_path: Path) -> None:
    pri, sec1 = real_key(tmp_path, "pri"), real_key(tmp_path, "sec1")
    known = tmp_path / "known_hosts"
    known.write_text(f"atlas-PRI {pri}\natlas-SEC1 {sec1}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], capture_output=True, check=True)
    text = known.read_text()
    assert "atlas-PRI" not in text and text.startswith("|1|")
    assert [k.blob for k in known_keys(text, "atlas-PRI")] == [pri.split()[1]]
    assert [k.blob for k in known_keys(text, "atlas-SEC1")] == [sec1.split()[1]]
    assert known_keys("|1|garbage|x ssh-ed25519 AAAA\n", "atlas-PRI") == []


def test_verifier_line_is_a_fixed_answer_only() -> None:
    line = verifier_authorized_line("ssh-ed25519 AAAAKEY atlas-ha-verifier@A\n")
    assert line == (
        f'command="echo {VERIFIER_ANSWER}",restrict ssh-ed25519 AAAAKEY atlas-ha-verifier@A'
    )
    with pytest.raises(ValueError, match="OpenSSH public key"):
        verifier_authorized_line("not a key")


def test_hung_ssh_server_times_out_within_the_timeout(group: SimGroup) -> None:
    """A server that accepts TCP and never sends its identification string."""
    server = group.servers["A"].server(lambda _line: None)
    ctx = Context(server=server, role="PRI")
    with socket.socket() as hung:
        hung.bind(("127.0.0.73", 0))
        hung.listen(1)
        svc = ServiceDef(
            name="ssh", kind="ssh", timeout=0.5, options={"port": hung.getsockname()[1]}
        )
        started = time.monotonic()
        profile = SshVerifier().verify(ctx, svc, Target(role="SEC1", address="127.0.0.73"))
        elapsed = time.monotonic() - started
    assert profile.status is Status.CRITICAL and "no answer within 0.5 s" in profile.summary
    assert [m.label for m in profile.measurements] == ["connect"]
    assert elapsed < 1.0


def test_bad_ssh_options_are_unknown(group: SimGroup) -> None:
    ctx = Context(server=group.servers["A"].server(lambda _line: None), role="PRI")
    svc = ServiceDef(name="ssh", kind="ssh", options={"port": "twenty-two"})
    profile = SshVerifier().verify(ctx, svc, Target(role="SEC1", address="127.0.0.73"))
    assert profile.status is Status.UNKNOWN and "bad options" in profile.summary
