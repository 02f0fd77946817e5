"""The event log (report/events.py: append, read, torn lines, retention) and the roll-ups
(report/rollups.py: buckets equal to a direct computation, folding in parts, pruning)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_ha.errors import AtlasError
from atlas_ha.layout.sid import SidData
from atlas_ha.report import events
from atlas_ha.report.rollups import DAY, HOUR, Rollups, bucket_start
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.verdict import worst_go

NOW = 1_800_000_000.0


def test_append_read_since_and_alert_records(tmp_path: Path) -> None:
    sid = SidData(tmp_path / "sid")
    events.append(sid, "PRI", {"t": NOW - 2 * DAY, "type": "suspend", "by": "A", "reason": "x"})
    events.append(sid, "PRI", {"t": NOW - 10, "type": "resume"})
    events.alert(sid, "PRI", NOW, "email", "failed: connection refused", rule="down")
    files = sid.events_files("PRI")
    assert [p.name for p in files] == ["events-2027-01-13.jsonl", "events-2027-01-15.jsonl"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    got = events.read(sid, "PRI")
    assert [e["type"] for e in got.events] == ["suspend", "resume", "alert"]
    assert got.events[2] == {
        "t": NOW,
        "type": "alert",
        "channel": "email",
        "outcome": "failed: connection refused",
        "rule": "down",
    }
    assert [e["type"] for e in events.read(sid, "PRI", since=NOW - 60).events] == [
        "resume",
        "alert",
    ]
    with pytest.raises(AtlasError, match="event type 'nonsense'"):
        events.append(sid, "PRI", {"t": NOW, "type": "nonsense"})


def test_a_torn_line_is_skipped_and_named(tmp_path: Path) -> None:
    sid = SidData(tmp_path / "sid")
    events.append(sid, "PRI", {"t": NOW, "type": "resume"})
    path = sid.events_file("PRI", events.day_of(NOW))
    with open(path, "ab") as f:
        f.write(b'{"t": 1800000001, "type": "sta')  # a crash in the middle of a write
    events.append(sid, "PRI", {"t": NOW + 2, "type": "resume"})
    got = events.read(sid, "PRI")
    assert [e["t"] for e in got.events] == [NOW, NOW + 2]
    assert got.damaged == [f"{path}:2: not a JSON event (skipped)"]


def test_retention_removes_whole_days_older_than_the_limit(tmp_path: Path) -> None:
    sid = SidData(tmp_path / "sid")
    for days in (100, 91, 89, 0):
        events.append(sid, "PRI", {"t": NOW - days * DAY, "type": "resume"})
    gone = events.prune(sid, "PRI", NOW, 90)
    assert gone == ["events-2026-10-07.jsonl", "events-2026-10-16.jsonl"]
    left = [e["t"] for e in events.read(sid, "PRI").events]
    assert left == [NOW - 89 * DAY, NOW]


def test_each_event_is_one_appended_write(tmp_path: Path) -> None:
    """Concurrent appenders (forked writers) never interleave within a line."""
    sid = SidData(tmp_path / "sid")
    children = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                for i in range(50):
                    events.append(
                        sid,
                        "PRI",
                        {
                            "t": NOW,
                            "type": "alert",
                            "channel": f"c{n}",
                            "outcome": "x" * 3000,
                            "i": i,
                        },
                    )
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    got = events.read(sid, "PRI")
    assert got.damaged == [] and len(got.events) == 200
    assert Counter(e["channel"] for e in got.events) == {f"c{n}": 50 for n in range(4)}


# -- roll-ups -------------------------------------------------------------------------------
statuses = st.sampled_from([Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN])
results = st.lists(
    st.tuples(
        st.sampled_from(["SEC1", "SEC2"]),
        st.sampled_from(["web", "db"]),
        st.floats(NOW - 3 * DAY, NOW),
        statuses,
    ),
    max_size=60,
)


def direct(
    rows: list[tuple[str, str, float, Status]], size: int
) -> dict[tuple[str, str, int], tuple[Status, Counter[Status]]]:
    found: dict[tuple[str, str, int], list[Status]] = {}
    for server, service, t, status in rows:
        found.setdefault((server, service, bucket_start(t, size)), []).append(status)
    return {k: (worst_go(v), Counter(v)) for k, v in found.items()}


@settings(max_examples=60, deadline=None)
@given(results, st.integers(0, 60))
def test_buckets_hold_the_worst_state_and_counts(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, float, Status]],
    split: int,
) -> None:
    path = tmp_path_factory.mktemp("r") / "Rollups.sqlite"
    with Rollups(path) as rollups:
        rollups.fold(rows[:split])  # folded in two parts: the same as at once
        rollups.fold(rows[split:])
        for size, count in ((HOUR, 24 * 4), (DAY, 4)):
            strips = rollups.strips(size, count, NOW)
            got = {
                (server, service, b.start): (b.worst, b.counts)
                for (server, service), buckets in strips.items()
                for b in buckets
            }
            want = {
                k: (w, (c[Status.OK], c[Status.WARNING], c[Status.CRITICAL], c[Status.UNKNOWN]))
                for k, (w, c) in direct(rows, size).items()
            }
            assert got == want


def test_strips_cover_the_last_buckets_and_prune_drops_old_ones(tmp_path: Path) -> None:
    with Rollups(tmp_path / "Rollups.sqlite") as rollups:
        rollups.fold(
            [
                ("SEC1", "web", NOW - 100 * DAY, Status.CRITICAL),
                ("SEC1", "web", NOW - 25 * HOUR, Status.WARNING),
                ("SEC1", "web", NOW - 60, Status.OK),
            ]
        )
        hourly = rollups.strips(HOUR, 24, NOW)[("SEC1", "web")]
        assert [b.worst for b in hourly] == [Status.OK]  # 25 h ago is outside the 24 h strip
        daily = rollups.strips(DAY, 90, NOW)[("SEC1", "web")]
        assert [b.worst for b in daily] == [Status.WARNING, Status.OK]
        before = rollups.count()
        rollups.prune(NOW - 90 * DAY)
        assert rollups.count() == before - 2  # the hourly and the daily bucket of 100 days ago
