"""`atlas-ha demo`: one script of acts told by one narrator; here on the simulation stage (the
lab stage runs the same script in tests/lab/test_loopback_lab.py)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_ha.demo.narrator import Narrator
from atlas_ha.demo.script import ACTS, perform
from atlas_ha.demo.sim_stage import SimStage
from atlas_ha.demo.stage import clear_dir
from atlas_ha.errors import EXIT_DIFFERENCES, GuardError
from atlas_ha.lab.group import SimGroup


def flat(text: str) -> str:
    """`text` with every run of white space one blank (wrapped paragraphs compare)."""
    return " ".join(text.split())


def test_demo_local_plays_every_act_once_in_order_in_plain_text(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "atlas_ha", "demo", "--local", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    text = out.stdout
    assert "\033[" not in text  # not a terminal: plain text
    headers = [f"== Act {n} of {len(ACTS)}: {act.title}" for n, act in enumerate(ACTS, 1)]
    for header, act in zip(headers, ACTS, strict=True):
        assert text.count(header) == 1, header
        assert flat(text).count(flat(act.narration)) == 1, act.title
    at = [text.index(header) for header in headers]
    assert at == sorted(at)
    # each act ends with its summary, before the next act begins
    ends = [*at[1:], text.index("== Result")]
    for start, end in zip(at, ends, strict=True):
        assert text[start:end].count("-> as expected:") == 1
    result = text[text.index("== Result") :]
    assert all(act.title in result for act in ACTS)
    assert "All 6 acts went as expected." in result
    assert text.rstrip().splitlines()[-1] == json.dumps({"all_equal": True})
    # what the acts showed: the PRI's address follows the PRI disk; the drift's diff; its undo
    answers = [line for line in text.splitlines() if "client -> 127.0.2.11 answered by" in line]
    holders = [line.split("answered by ")[1].split(":")[0] for line in answers]
    assert holders == ["A", "A", "B", "B", "C", "C"]
    assert "SEC1: NOT SYNCED, unreachable" in text
    assert "+level = 9  # edited by hand on A" in text
    assert "A's /etc/app/app.conf after the cycle: 'level = 3'" in text


class NoSendStage(SimStage):
    """A SEC that never sends its own snapshot: the PRI cannot see the hand edit."""

    def send_own(self, name: str) -> None:
        pass


def test_an_act_not_going_as_expected_says_so_and_exits_with_differences(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    code = perform(NoSendStage(tmp_path / "demo"), Narrator(out))
    text = out.getvalue()
    assert code == EXIT_DIFFERENCES
    drift = text[text.index(f"Act 6 of 6: {ACTS[5].title}") :]
    assert "-> NOT as expected" in drift
    assert "compare after the edit: SEC1 different, SEC2 equal: NOT so, SEC1 equal" in flat(drift)
    assert "5 of 6 acts went" not in text and "1 of 6 acts did NOT go as expected" in text
    assert text.count("-> as expected:") == 5


def test_the_narrator_styles_a_terminal_only() -> None:
    plain, styled = io.StringIO(), io.StringIO()
    Narrator(plain).act(1, 2, "Title", "Narration.")
    Narrator(styled, color=True).act(1, 2, "Title", "Narration.")
    assert "\033[" not in plain.getvalue() and "== Act 1 of 2: Title" in plain.getvalue()
    assert "\033[1m== Act 1 of 2: Title\033[0m" in styled.getvalue()


def test_the_demo_replaces_only_a_directory_a_demo_made(tmp_path: Path) -> None:
    mine = tmp_path / "precious"
    (mine / "servers").mkdir(parents=True)
    (mine / "notes.txt").write_text("the only copy\n")
    with pytest.raises(GuardError, match=r"precious: holds notes.txt, which no demo put there"):
        clear_dir(mine, SimGroup.ENTRIES)
    out = io.StringIO()
    with pytest.raises(GuardError, match=r"precious: holds notes\.txt"):  # the demo refuses too
        perform(SimStage(mine, down=True), Narrator(out))
    assert "== Act 1 of 6" in out.getvalue() and "== Act 2" not in out.getvalue()
    assert (mine / "notes.txt").read_text() == "the only copy\n"
    assert (mine / "servers").is_dir()
    (mine / "notes.txt").unlink()
    clear_dir(mine, SimGroup.ENTRIES)  # an earlier demo's: replaced
    assert not mine.exists()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(GuardError, match="not a directory"):
        clear_dir(tmp_path / "link", SimGroup.ENTRIES)
    assert target.is_dir()


def test_the_demo_shows_the_status_models_banner_and_readiness_after_every_act(
    tmp_path: Path,
) -> None:
    """Each act ends with the PRI's banner and readiness as report/model.py says them (the
    last one is what `atlas-ha status` on the last PRI says afterwards); the page's address
    is printed at the start; the narration names the checks the go/no-go includes."""
    from atlas_ha.report.view import group_status

    out = io.StringIO()
    stage = SimStage(tmp_path / "demo")
    assert perform(stage, Narrator(out)) == 0
    text = out.getvalue()
    start = text[: text.index("== Act 1")]
    assert "report serve" in start and "http://127.0.0.1:8470/" in flat(start)
    for name in ("files (smb:", "time (ntp:", "dbpage (http with db_page:"):
        assert name in flat(text), name
    assert "so that go/no-go and readiness, include the checks" in flat(text)
    acts = [text.index(f"== Act {n} of 6") for n in range(1, 7)] + [text.index("== Result")]
    pris = ["A", "A", "B", "B", "C", "C"]
    for (begin, end), pri in zip(itertools.pairwise(acts), pris, strict=True):
        part = flat(text[begin:end])
        assert f"status on {pri} (PRI): NO-GO" in part, pri  # no daemon: atlas UNKNOWN
        assert "readiness SEC1:" in part and "readiness SEC2:" in part
    scenario_1 = flat(text[acts[2] : acts[3]])
    assert "readiness SEC1: NOT READY: - never synced (last SyncCycle" in scenario_1
    assert "unreachable" in scenario_1 and "readiness SEC2: READY" in scenario_1
    assert "alert mail: none shown (no daemon runs, so no alert is mailed)" in scenario_1
    last = group_status(stage.group.servers["C"].server(lambda _l: None))
    assert f"status on C (PRI): {last.banner}" in flat(text[acts[5] :])  # the model's words
    assert [r.ready for r in last.readiness] == [True, True]
