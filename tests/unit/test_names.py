"""File names are bytes (atlas_ha.text): Manifests and path lists carry any name exactly, what
is no name is refused, and names print as \\xNN escapes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.errors import FormatError
from atlas_ha.layout import manifest, paths
from atlas_ha.layout.atomic import read_text_or_none, write_if_changed
from atlas_ha.sync.compare import CANONICAL
from atlas_ha.text import decode_name, encode_name, show_names_on, shown, utf8

# one path component: any bytes but "/" and NUL, not "." or ".."
COMPONENT = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
RAW_PATHS = st.lists(COMPONENT, min_size=1, max_size=4).map(lambda parts: b"/" + b"/".join(parts))


def entries(
    paths: st.SearchStrategy[str], targets: st.SearchStrategy[str]
) -> st.SearchStrategy[manifest.Entry]:
    """Manifest entries of any metadata, with paths and link targets drawn from those given."""
    return st.builds(
        manifest.Entry,
        tree=st.sampled_from(["SyncFiles", "IdentFiles"]),
        path=paths,
        type=st.sampled_from(manifest.TYPES),
        mode=st.integers(0, 0o7777),
        uid=st.integers(0, 2**32),
        gid=st.integers(0, 2**32),
        size=st.integers(0, 2**63),
        mtime_ns=st.integers(0, 2**63),
        sha256=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        target=targets,
    )


ENTRIES = entries(RAW_PATHS.map(decode_name), st.binary(max_size=20).map(decode_name))


@given(st.lists(ENTRIES, unique_by=lambda e: e.key))
def test_manifest_carries_any_name_exactly(entries: list[manifest.Entry]) -> None:
    text = manifest.render(entries)
    assert text.isascii()  # every byte that is not UTF-8 (and every non-ASCII char) escaped
    for line in text.split("\n")[1:-1]:
        assert CANONICAL.fullmatch(line)  # compare's fast path still reads the lines
    parsed = manifest.parse(text, "M")
    assert parsed == {e.key: e for e in entries}
    for e in entries:  # and the names come back as the same bytes
        got = parsed[e.key]
        assert encode_name(got.path) == encode_name(e.path)
        assert encode_name(got.target) == encode_name(e.target)


def test_manifest_refuses_what_is_no_name() -> None:
    good = manifest.Entry("SyncFiles", "/etc/caf\udce9", "symlink", 0o777, 0, 0, target="x")
    line = manifest.render([good]).splitlines()[1]
    assert "\\udce9" in line
    for bad in (line.replace("\\udce9", "\\ud800"), line.replace('"x"', '"\\udfff"')):
        with pytest.raises(FormatError, match=r"M:2: path and target: file names"):
            manifest.parse(manifest.HEADER + "\n" + bad + "\n", "M")


@given(st.lists(RAW_PATHS, unique=True))
def test_path_lists_carry_any_name_exactly(raw: list[bytes]) -> None:
    # one path a line, blanks around it are no part of it: every other name can be listed
    listed = [decode_name(p) for p in raw if b"\n" not in p and p.rstrip(b" \t\r") == p]
    assert paths.parse(paths.render(listed), "L") == listed


def test_a_path_list_file_is_read_and_written_as_bytes(tmp_path: Path) -> None:
    raw = b"# listed by the operator\n/etc/caf\xe9.conf\n/etc/\xff\xfe\n"
    (tmp_path / "SyncFilePathsSpecial").write_bytes(raw)
    listed = paths.read(tmp_path / "SyncFilePathsSpecial")
    assert [encode_name(p) for p in listed] == [b"/etc/caf\xe9.conf", b"/etc/\xff\xfe"]
    write_if_changed(tmp_path / "SyncFilePaths", paths.render(listed))
    assert (tmp_path / "SyncFilePaths").read_bytes() == b"/etc/caf\xe9.conf\n/etc/\xff\xfe\n"
    with pytest.raises(FormatError, match=r"L:1: a file name \(bytes\)"):
        paths.parse("/etc/\ud800\n", "L")


def test_text_files_that_are_not_utf8_name_line_and_byte(tmp_path: Path) -> None:
    (tmp_path / "EnvID").write_bytes(b"# ok\n# caf\xe9\n2\n")
    with pytest.raises(FormatError) as err:
        read_text_or_none(tmp_path / "EnvID")
    assert err.value.line == 2 and err.value.path == str(tmp_path / "EnvID")
    assert err.value.expected == "expected UTF-8 text (byte 0xe9 at column 6 is not)"
    assert utf8("café\n".encode(), "F") == "café\n"


def test_names_are_shown_with_escapes() -> None:
    assert shown(decode_name(b"/etc/caf\xe9.conf")) == "/etc/caf\\xe9.conf"
    assert shown("/etc/café") == "/etc/café"  # UTF-8 names stay as they are
    assert shown("lone \ud800") == "lone \\ud800"
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    show_names_on(out)
    out.write(os.fsdecode(b"caf\xe9 caf\xc3\xa9\n"))
    out.flush()
    assert out.buffer.getvalue() == "caf\\xe9 café\n".encode()  # type: ignore[attr-defined]
