"""Manifests that share lines share the parsing work (layout/manifest.py's line cache): a
parse or a render pays JSON work only for lines not seen before, and never returns anything
but what a fresh parse would."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.errors import FormatError
from atlas_ha.layout import manifest


def entry(i: int, digest: str = "a") -> manifest.Entry:
    return manifest.Entry("SyncFiles", f"/etc/app/f{i:05d}", "file", 0o644, 0, 0, 4, i, digest * 64)


def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real_parse, real_render = manifest._parse_line, manifest._render_line

    def parse_line(line: str, where: object, number: int) -> manifest.Entry:
        calls.append(number)
        return real_parse(line, where, number)  # type: ignore[arg-type]

    def render_line(e: manifest.Entry) -> str:
        calls.append(-1)
        return real_render(e)

    monkeypatch.setattr(manifest, "_parse_line", parse_line)
    monkeypatch.setattr(manifest, "_render_line", render_line)
    return calls


def test_one_changed_line_is_the_only_line_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [entry(i) for i in range(500)]
    old_text = manifest.render(entries)
    first = manifest.parse(old_text, "M1")
    changed = entry(250, "b")
    text = old_text.replace(manifest._render_line(entries[250]), manifest._render_line(changed))
    entries[250] = changed
    calls = counted(monkeypatch)
    second = manifest.parse(text, "M2")
    parsed = [n for n in calls if n > 0]
    assert parsed == [252]  # line 1 is the header: entry 250 is line 252
    assert second == {e.key: e for e in entries}
    assert first[entries[0].key] is second[entries[0].key]  # shared, not re-made


def test_render_reuses_the_lines_it_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [entry(i, "c") for i in range(300)]
    parsed = manifest.parse(manifest.render(entries), "M")
    calls = counted(monkeypatch)
    assert manifest.render(parsed.values()) == manifest.render(entries)
    assert calls == []


def test_a_line_from_another_writer_is_parsed_but_rendered_canonically() -> None:
    e = entry(7, "d")
    odd = json.dumps(vars(e))  # not sorted: another writer's spelling of the same entry
    assert odd + "\n" != manifest._render_line(e)
    got = manifest.parse(manifest.HEADER + "\n" + odd + "\n", "M")
    assert got == {e.key: e}
    assert manifest.render(got.values()) == manifest.HEADER + "\n" + manifest._render_line(e)


def test_a_known_line_still_counts_as_a_repeat_and_bad_lines_still_fail() -> None:
    line = manifest.render([entry(1, "e")]).splitlines()[1]
    manifest.parse(manifest.HEADER + "\n" + line + "\n", "M")
    with pytest.raises(FormatError, match="repeats"):
        manifest.parse(manifest.HEADER + "\n" + line + "\n" + line + "\n", "M")
    bad = line.replace('"size": 4', '"size": -4')
    for _ in range(2):  # a refused line is not remembered as good
        with pytest.raises(FormatError, match="non-negative"):
            manifest.parse(manifest.HEADER + "\n" + bad + "\n", "M")


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest, "LINES_KEPT", 100)
    for start in range(0, 1000, 50):
        manifest.parse(manifest.render([entry(i, "f") for i in range(start, start + 50)]), "M")
    assert len(manifest._lines_young) <= 100 and len(manifest._lines_old) <= 100
    assert len(manifest._rendered_young) <= 100 and len(manifest._rendered_old) <= 100


@given(st.lists(st.integers(0, 40), min_size=1, max_size=30), st.sampled_from("0123456789"))
def test_parse_after_any_history_equals_a_fresh_parse(picks: list[int], digest: str) -> None:
    seen = [entry(i, digest) for i in sorted(set(picks))]
    text = manifest.render(seen)
    fresh = manifest._parse(text, "M")
    assert manifest.parse(text, "M") == fresh
    assert manifest.render(fresh.values()) == text


def test_the_parse_cache_keeps_no_manifest_text() -> None:
    """The cache of whole parses is keyed by a digest: a Manifest parsed and let go leaves
    its entries cached, not its text (4.6 MB at 20,000 entries)."""
    import gc
    import tracemalloc

    deep = "/etc/app/" + "d" * 150  # long lines: the text dwarfs the cached entries' dict
    entries = [
        manifest.Entry("SyncFiles", f"{deep}/f{i:05d}", "file", 0o644, 0, 0, 4, i, "b" * 64)
        for i in range(2000)
    ]
    text = manifest.render(entries)  # built before tracing starts
    size = len(text)
    gc.collect()
    tracemalloc.start()
    try:
        copy = (text + "\n")[:-1]  # what a fresh read of the file gives: a new str
        del text
        assert manifest.parse(copy, "m") == {e.key: e for e in entries}
        del copy
        gc.collect()
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < size / 2, f"{kept} bytes kept after parsing a {size}-byte Manifest"
