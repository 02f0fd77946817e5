"""VerifierResults.newest(), the fast read of the newest result of every check, answers
exactly what VerifierResults.latest() answers (ties in time, several targets, services
named alike)."""

from __future__ import annotations

import random
from pathlib import Path

from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.results import ResultRow, VerifierResults


def test_newest_by_index_seeks_is_what_latest_answers(tmp_path: Path) -> None:
    rng = random.Random(7)
    services = ["svc", "svc07", "svc07-b", "web", "Web"]
    targets = ["PRI", "SEC1", "SEC10", "SEC2"]
    with VerifierResults(tmp_path / "VerifierResults.sqlite") as results:
        assert results.newest() == []
        rows = []
        for n in range(600):
            status = rng.choice(list(Status))
            rows.append(
                ResultRow(
                    "A",
                    "PRI",
                    rng.choice(services),
                    "tcp",
                    rng.choice(targets),
                    "127.0.2.11",
                    float(rng.randint(0, 40)),
                    0.01,
                    Profile(status, f"row {n} {status.name}"),
                )
            )
        results.add(rows, 50.0)
        assert results.newest() == results.latest()
        for service in [*services, "sv", "nosuch"]:
            assert results.newest(service) == results.latest(service), service
