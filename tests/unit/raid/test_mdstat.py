"""/proc/mdstat: real samples (captured from a QEMU guest's kernel, tests/vm) and written
ones parse to what they say; generated texts round-trip through `render`; arbitrary text
gives an Mdstat or a FormatError naming the line, never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_ha.errors import FormatError
from atlas_ha.raid import mdstat
from atlas_ha.raid.mdstat import Array, Bitmap, Mdstat, Member, Progress

FIXTURES = Path(__file__).parents[2] / "fixtures" / "raid"
REAL = sorted((FIXTURES / "real").glob("*.mdstat.txt"))


def sample(name: str) -> Mdstat:
    path = FIXTURES / "samples" / name
    return mdstat.parse(path.read_text(), path)


def test_members_with_faulty_spare_and_write_mostly_flags() -> None:
    stat = sample("degraded-faulty-spare.mdstat")
    assert stat.personalities[:4] == ("linear", "multipath", "raid0", "raid1")
    md1, md0, md127 = stat.arrays
    assert md1.members == (Member("sdb2", 1, ("F",)), Member("sda2", 0))
    assert md1.degraded and md1.empty_slots == (1,) and (md1.raid_disks, md1.working) == (2, 1)
    assert md1.bitmap == Bitmap(3, 8, 12, "65536KB")
    assert md0.members[0].spare and md0.members[2].flags == ("W",) and not md0.degraded
    assert not md127.active and md127.level is None and md127.status is None
    assert md127.members == (Member("sdd", 1, ("S",)),) and stat.unused == ()


def test_recovery_progress_replacement_and_a_delayed_resync() -> None:
    md0, md2 = sample("recovery-replacement-delayed.mdstat").arrays
    assert md0.members[0].flags == ("R",)
    assert md0.progress == Progress("recovery", 27.5, 268632064, 976630464, 92.3, 127813)
    assert md2.progress == Progress("resync", waiting="DELAYED") and md2.superblock is None


def test_check_progress_raid5_layout_raid0_read_only_and_a_bitmap_file() -> None:
    stat = sample("check-raid5-raid0.mdstat")
    md3, md4, md5 = stat.arrays
    assert md3.progress is not None and md3.progress.action == "check"
    assert md3.progress.percent == 61.2 and md3.layout == "level 5, 512k chunk, algorithm 2"
    assert md4.read_only == "auto-read-only" and md4.level == "raid0" and md4.status is None
    assert md5.bitmap is not None and md5.bitmap.file == "/var/md5.bitmap"
    assert stat.unused == ("sdj", "sdk")


def test_an_indented_line_of_an_unknown_kind_is_kept_not_refused() -> None:
    text = "md0 : active raid1 sda[0]\n      10 blocks [1/1] [U]\n      journal: a new kind\n"
    assert mdstat.parse(text).arrays[0].extra == ("journal: a new kind",)


@pytest.mark.skipif(not REAL, reason="no captures of the QEMU guest in tests/fixtures/raid/real")
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_kernel_outputs_parse_and_round_trip(path: Path) -> None:
    stat = mdstat.parse(path.read_text(), path)
    assert stat.personalities == ("raid1",) and stat.arrays[0].name == "md0"
    assert mdstat.parse(mdstat.render(stat)) == stat


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("Personalities : [raid1]\nmd0 : active raid1 sda1[x]\n", 2, "member 'sda1[x]'"),
        ("md0 : active raid1 sda[0]\n      10 blocks [2/1] [U]\n", 2, "has not 2 slots"),
        ("md0 : running raid1 sda[0]\n", 1, "mdN : active|inactive"),
        (
            "md0 : active raid1 sda[0]\n      [==>...]  recovery = 1x% (1/2) finish=1min\n",
            2,
            "ACTION = P%",
        ),
        ("md0 : active raid1 sda[0]\n      bitmap: lots\n", 2, "bitmap:"),
        ("Personalities : [raid1]\n\ngarbage here\n", 3, "expected a Personalities"),
        ("unused devices:\n", 1, "unused devices"),
    ],
)
def test_a_malformed_line_is_a_format_error_naming_it(text: str, line: int, expected: str) -> None:
    with pytest.raises(FormatError) as caught:
        mdstat.parse(text, "/proc/mdstat")
    assert caught.value.line == line and expected in str(caught.value)
    assert str(caught.value).startswith(f"/proc/mdstat:{line}:")


names = st.from_regex(r"\A(sd[a-z]{1,2}[0-9]?|vd[a-z]|nvme[0-9]n[0-9]p[0-9])\Z")
members = st.builds(
    Member, names, st.integers(0, 40), st.lists(st.sampled_from("FSWRJ"), max_size=2).map(tuple)
)
tenths = st.integers(0, 1000).map(lambda n: n / 10)


@st.composite
def progress(draw: st.DrawFn) -> Progress:
    action = draw(st.sampled_from(mdstat.ACTIONS))
    if draw(st.booleans()):
        return Progress(action, waiting=draw(st.sampled_from(["DELAYED", "PENDING"])))
    total = draw(st.integers(1, 10**10))
    return Progress(
        action,
        draw(tenths),
        draw(st.integers(0, total)),
        total,
        draw(tenths),
        draw(st.integers(0, 10**7)),
    )


@st.composite
def arrays(draw: st.DrawFn) -> Array:
    active = draw(st.booleans())
    slots = draw(st.integers(1, 6))
    status = draw(st.text("U_", min_size=slots, max_size=slots)) if active else None
    bitmap = draw(
        st.none()
        | st.builds(
            Bitmap,
            st.integers(0, 99),
            st.integers(1, 99),
            st.integers(0, 999),
            st.sampled_from(["65536KB", "4MB", "512B"]),
            st.none() | st.just("/var/lib/md0.bitmap"),
        )
    )
    return Array(
        name=draw(st.from_regex(r"\Amd[0-9]{1,3}\Z")),
        active=active,
        read_only=draw(st.sampled_from(["", "auto-read-only", "read-only"])) if active else "",
        level=draw(st.sampled_from(["raid1", "raid5", "raid10", "linear"])) if active else None,
        members=tuple(draw(st.lists(members, max_size=5))),
        blocks=draw(st.integers(0, 10**12)),
        superblock=draw(st.sampled_from([None, "1.2", "1.0", "0.90"])),
        layout="",
        raid_disks=slots if status else None,
        working=status.count("U") if status else None,
        status=status,
        progress=draw(st.none() | progress()) if active else None,
        bitmap=bitmap if active else None,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["raid1", "raid0", "raid6", "linear"]), unique=True),
    st.lists(arrays(), max_size=4),
    st.lists(names, max_size=3, unique=True).map(tuple),
)
def test_generated_mdstat_round_trips(
    personalities: list[str], generated: list[Array], unused: tuple[str, ...]
) -> None:
    stat = Mdstat(tuple(personalities), tuple(generated), unused)
    assert mdstat.parse(mdstat.render(stat)) == stat


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(
                [
                    "md0 : active raid1 sda[0]",
                    "      10 blocks super 1.2 [2/2] [UU]",
                    "      [=>...]  resync = 5.0% (1/2) finish=0.1min speed=1K/sec",
                    "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                    "Personalities : [raid1] ",
                    "unused devices: <none>",
                    "",
                ]
            ),
        ),
        max_size=12,
    )
)
def test_arbitrary_text_is_an_mdstat_or_a_format_error(lines: list[str]) -> None:
    try:
        mdstat.parse("\n".join(lines))
    except FormatError as exc:
        assert exc.line is not None and exc.line >= 1
