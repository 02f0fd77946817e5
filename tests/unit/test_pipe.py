"""A partner that goes away before answering: a TransportError, and closing is quiet."""

from __future__ import annotations

import pytest

from atlas_ha.errors import TransportError
from atlas_ha.transport.pipe import PipeConnection


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
