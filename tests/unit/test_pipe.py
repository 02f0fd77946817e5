"""A partner that goes away before answering: a TransportError naming its cause (never an
empty one), and closing is quiet."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from atlas_ha.errors import TransportError
from atlas_ha.layout.sid import role_key_file
from atlas_ha.model import Partner
from atlas_ha.settings import load
from atlas_ha.system import Runner
from atlas_ha.transport.pipe import PipeConnection
from atlas_ha.transport.ssh import SshConnection, SshOptions, generate_key, unreachable


class Pipe(PipeConnection):
    def push(self, *_args: object, **_kw: object) -> None:  # not used here
        raise NotImplementedError


def test_a_partner_that_exits_at_once_is_a_transport_error_and_close_is_quiet() -> None:
    conn = Pipe("SEC1", "127.0.2.12", ["sh", "-c", "echo refused >&2; exit 255"])
    conn.proc.wait()  # the partner is gone before we say anything (ssh: connection refused)
    # a small request stays in the buffer when the flush fails
    with pytest.raises(TransportError, match=r"SEC1 at 127.0.2.12: connection lost"):
        conn.call({"op": "hello"})
    conn.close()  # must not raise BrokenPipeError while flushing what was never sent
    assert conn.proc.returncode == 255


def test_a_partner_that_ends_silently_is_reported_with_the_request_that_waited() -> None:
    conn = Pipe("SEC1", "127.0.2.12", ["sh", "-c", "read line; sleep 1; exit 3"])
    with pytest.raises(TransportError) as caught:
        conn.call({"op": "receive-commit"})
    conn.close()
    message = str(caught.value)
    assert "without an answer to receive-commit" in message
    assert "after 1 s" in message and "exit 3" in message
    assert message.endswith("no message from the partner")


def test_a_partner_answering_bytes_that_are_not_utf8_is_a_transport_error() -> None:
    """A broken or hostile partner's answer (and its stderr) are never trusted to be text: a
    malformed answer, never a UnicodeDecodeError that would stop the whole cycle."""
    script = "read line; printf 'bad \\377 bytes' >&2; printf 'caf\\351\\n'; sleep 1"
    conn = Pipe("SEC1", "127.0.2.12", ["sh", "-c", script])
    with pytest.raises(TransportError, match=r"SEC1 at 127\.0\.2\.12: malformed answer"):
        conn.call({"op": "hello"})
    assert "bad \ufffd bytes" in conn.said()
    conn.close()


def test_an_ssh_that_failed_without_a_word_still_names_what_happened() -> None:
    message = unreachable("SEC1 at 198.51.100.12", "receive-commit", 39.4, "", "")
    assert message == (
        "SEC1 at 198.51.100.12: unreachable over ssh: the connection ended after 39 s "
        "without an answer to receive-commit (ssh exit 255; no message from ssh)"
    )
    said = unreachable(
        "SEC1 at 198.51.100.12", "syncup", 40, "Timeout, server not responding.", "install\n"
    )
    assert said == (
        "SEC1 at 198.51.100.12: unreachable over ssh: Timeout, server not responding. "
        "(no answer to syncup after 40 s; ssh exit 255); the partner's last words: install"
    )


def test_ssh_own_message_is_reported_and_its_directory_removed(short_tmp: Path) -> None:
    """A real ssh towards a closed port: its message comes from its log (ssh -E)."""
    esd = short_tmp / "esd"
    esd.mkdir()
    key = role_key_file(short_tmp / "sid")  # the role's key, on the Unbound Data
    key.parent.mkdir(parents=True)
    generate_key(Runner(), key, "test")
    config = short_tmp / "atlas-ha.toml"
    config.write_text(
        f'name = "A"\nsystem_root = "{short_tmp}"\nesd_data = "{esd}"\n'
        f'sid_data = "{short_tmp / "sid"}"\n[transport]\nkind = "ssh"\n'
    )
    options = SshOptions(load(config))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = SshConnection("SEC1", Partner("127.0.0.1", ssh_port=port), options, "127.0.0.1")
    assert conn.control_dir.parent == esd / "run"
    with pytest.raises(TransportError) as caught:
        conn.call({"op": "hello"})
    message = str(caught.value)
    assert "unreachable over ssh:" in message and "Connection refused" in message
    assert "last words" not in message  # ssh's own message, from its log, not its stderr
    assert "no answer to hello" in message
    conn.close()
    assert not conn.control_dir.exists()
