"""Who verifies whom (PRI and SEC MasterConfigs) and the VerifierResults database."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from atlas_ha.errors import FormatError
from atlas_ha.layout.sid import GITIGNORE
from atlas_ha.model import MasterConfig
from atlas_ha.verifier.api import Target
from atlas_ha.verifier.kinds.connectivity import ConnectivityVerifier
from atlas_ha.verifier.kinds.health import HealthVerifier
from atlas_ha.verifier.kinds.tcp import TcpVerifier
from atlas_ha.verifier.profile import Measurement, Profile, Status
from atlas_ha.verifier.results import ResultRow, Retention, VerifierResults, results_file
from atlas_ha.verifier.services import parse
from atlas_ha.verifier.targets import checks_for, targets_of

PRI = MasterConfig.parse(
    'group = "g"\nrole = "PRI"\n[partners.SEC2]\naddress = "10.0.0.13"\n'
    '[partners.SEC1]\naddress = "10.0.0.12"\nssh_port = 2222\nssh_user = "atlas"\n'
)
SEC = MasterConfig.parse('group = "g"\nrole = "SEC1"\n[partners.PRI]\naddress = "10.0.0.11"\n')
KINDS = {"tcp": TcpVerifier, "health": HealthVerifier, "connectivity": ConnectivityVerifier}
SEVS = {"PRI": 2, "SEC1": 1}


def test_pri_verifies_every_sec_a_sec_its_pri() -> None:
    assert targets_of(PRI, "partners", "10.0.0.11", 2, SEVS.get) == [
        Target("SEC1", "10.0.0.12", env=1, ssh_port=2222, ssh_user="atlas"),
        Target("SEC2", "10.0.0.13", env=None),
    ]
    assert targets_of(SEC, "partners", "10.0.0.12", 1, SEVS.get) == [
        Target("PRI", "10.0.0.11", env=2)
    ]
    assert targets_of(SEC, "self", "10.0.0.12", 1, SEVS.get) == [
        Target("SEC1", "10.0.0.12", env=1, own=True)
    ]
    assert [t.role for t in targets_of(PRI, "all", "10.0.0.11", 2, SEVS.get)] == [
        "SEC1",
        "SEC2",
        "PRI",
    ]


def test_checks_follow_targets_or_the_kinds_default() -> None:
    services = parse(
        '[service.web]\nkind = "tcp"\n[service.web.options]\nport = 80\n'
        '[service.h]\nkind = "health"\n'
        '[service.net]\nkind = "connectivity"\n'
        '[service.own-web]\nkind = "tcp"\ntargets = "self"\n',
        "services.toml",
    )
    checks = checks_for(services, KINDS, PRI, "10.0.0.11", 2, SEVS.get)
    assert [c.key for c in checks] == [
        "web@SEC1",
        "web@SEC2",
        "h@PRI",
        "net@SEC1",
        "net@SEC2",
        "net@PRI",
        "own-web@PRI",
    ]
    assert checks[2].target.own and checks[2].target.env == 2


def row(service: str, target: str, started: float, status: Status = Status.OK) -> ResultRow:
    profile = Profile(status, f"{service} at {started}", (Measurement("time", 0.25, "s"),))
    return ResultRow("A", "PRI", service, "tcp", target, "10.0.0.12", started, 0.25, profile)


def test_results_latest_history_and_retention(tmp_path: Path) -> None:
    sid = tmp_path / "SID_DATA"
    path = results_file(sid, "PRI")
    assert path == sid / "PRI" / "VerifierResults.sqlite"
    with VerifierResults(path, Retention(keep_days=1, keep_rows=3)) as db:
        now = 1_700_000_000.0
        db.add([row("web", "SEC1", now - 90_000)], now)  # older than a day: pruned at once
        assert db.count() == 0
        for i in range(5):
            db.add([row("web", "SEC1", now + i), row("web", "SEC2", now + i)], now + i)
        db.add([row("db", "SEC1", now + 9, Status.CRITICAL)], now + 9)
        assert db.count() == 3 + 3 + 1  # the newest 3 of each check
        latest = db.latest()
        assert [(r.service, r.target_role, r.started) for r in latest] == [
            ("db", "SEC1", now + 9),
            ("web", "SEC1", now + 4),
            ("web", "SEC2", now + 4),
        ]
        assert latest[0].profile.status == Status.CRITICAL
        assert latest[1].profile.measurements[0] == Measurement("time", 0.25, "s")
        assert [r.started for r in db.history("web", "SEC1", limit=10)] == [
            now + 4,
            now + 3,
            now + 2,
        ]
        assert len(db.history("web", limit=10)) == 6
        assert [r.service for r in db.latest("db")] == ["db"]
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    profile = json.loads(raw.execute("SELECT profile FROM results LIMIT 1").fetchone()[0])
    assert profile["status"] in ("OK", "CRITICAL")


def test_results_newer_schema_or_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "PRI" / "VerifierResults.sqlite"
    VerifierResults(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version=7")
    raw.close()
    with pytest.raises(FormatError, match="schema version 7 is newer"):
        VerifierResults(path)
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(FormatError, match="VerifierResults SQLite database"):
        VerifierResults(path)


def test_results_database_is_ignored_by_the_history() -> None:
    assert "/*/VerifierResults.sqlite*\n" in GITIGNORE


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("[results]\nkeep_days = 0\n", "[results] keep_days is a positive number"),
        ("[results]\nkeep_rows = 2.5\n", "[results] keep_rows is a whole number"),
        ("[results]\nkeep = 1\n", "[results] takes ['keep_days', 'keep_rows'], not ['keep']"),
        ("[result]\n", "only [defaults], [results] and [service.NAME], not ['result']"),
    ],
)
def test_results_policy_errors_name_the_file(table: str, expected: str) -> None:
    with pytest.raises(FormatError) as info:
        parse(table, "/etc/atlas-ha/services.toml")
    assert str(info.value) == f"/etc/atlas-ha/services.toml: {expected}"


def test_results_policy_is_read_from_the_services_file(tmp_path: Path) -> None:
    from atlas_ha.verifier.services import load_results_policy, services_file

    assert load_results_policy(tmp_path) == {}
    services_file(tmp_path).parent.mkdir(parents=True)
    services_file(tmp_path).write_text("[results]\nkeep_days = 7\nkeep_rows = 50\n")
    assert load_results_policy(tmp_path) == {"keep_days": 7.0, "keep_rows": 50.0}
