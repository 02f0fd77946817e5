"""Runner (system.py) is the one boundary of the subprocess family: a program that cannot
run, one past its timeout and output that does not decode become AtlasError naming the
program; nothing of subprocess's own escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_ha.errors import AtlasError
from atlas_ha.system import Runner


def program(tmp_path: Path, text: bytes, mode: int = 0o755) -> str:
    path = tmp_path / "prog"
    path.write_bytes(text)
    path.chmod(mode)
    return str(path)


def test_output_that_is_not_utf8_is_an_atlas_error_unless_replaced(tmp_path: Path) -> None:
    prog = program(tmp_path, b"#!/bin/sh\nprintf 'caf\\351\\n'\n")
    with pytest.raises(AtlasError, match=r"prog: its output is not UTF-8 \(byte 0xe9 at 3\)"):
        Runner().run([prog])
    assert Runner().run([prog], errors="replace").stdout == "caf\ufffd\n"
    assert Runner().run([prog], errors="surrogateescape").stdout == "caf\udce9\n"


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        (b"#!/bin/sh\nexit 0\n", 0o644, "Permission denied"),
        (b"\x7fELF not really", 0o755, "Exec format error"),
    ],
)
def test_a_program_that_cannot_run_is_an_atlas_error(
    tmp_path: Path, text: bytes, mode: int, reason: str
) -> None:
    prog = program(tmp_path, text, mode)
    with pytest.raises(AtlasError, match=f"prog: cannot run: {reason}"):
        Runner().run([prog])
    with pytest.raises(AtlasError, match="nonexistent-prog: program not found"):
        Runner().run([str(tmp_path / "nonexistent-prog")])
