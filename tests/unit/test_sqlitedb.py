"""The one SQLite base of the layout's stores (layout/sqlitedb.py): each store's schema by
version, a newer database refused with the store's own error, a transaction that raises
rolled back, the file 0600 where the store asks for it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from atlas_ha.errors import CrashStoreError, FormatError
from atlas_ha.ops.crashstore import CrashStore
from atlas_ha.report.rollups import Rollups
from atlas_ha.verifier.results import VerifierResults


@pytest.mark.parametrize(
    ("store", "error", "what"),
    [
        (VerifierResults, FormatError, "VerifierResults SQLite database"),
        (Rollups, FormatError, "roll-up SQLite database"),
        (CrashStore, CrashStoreError, "cannot open the crash store"),
    ],
)
def test_a_database_of_a_newer_schema_is_refused_with_the_stores_error(
    tmp_path: Path, store: type, error: type[Exception], what: str
) -> None:
    path = tmp_path / "sub" / "db.sqlite"
    with store(path) as opened:
        assert opened.db.execute("PRAGMA user_version").fetchone()[0] == store.schema_version
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={store.schema_version + 1}")
    db.close()
    with pytest.raises(error, match=f"{what}.*schema version {store.schema_version + 1} is newer"):
        store(path)


def test_a_transaction_that_raises_is_rolled_back_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Rollups(path) as rollups:
        with pytest.raises(RuntimeError), rollups.transaction() as db:
            db.execute("INSERT INTO buckets VALUES (3600, 'SEC1', 'web', 0, 0, 1, 0, 0, 0)")
            raise RuntimeError("midway")
        assert rollups.count() == 0
    assert path.stat().st_mode & 0o777 == 0o600
