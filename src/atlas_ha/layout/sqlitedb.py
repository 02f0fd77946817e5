"""One SQLite database file of the layout: opened, its schema applied by version, written in
transactions, closed — the part every store on SID_DATA or ESD_DATA repeats (the Verifier's
results, the report's roll-ups, the crash-signature store).

A subclass sets `schema` (statements separated by ";", each idempotent: CREATE ... IF NOT
EXISTS), `schema_version`, `what` (for errors) and, where it differs, the class attributes
below. Opening creates the file (mode `mode`, its directory 0700), sets WAL (`wal`: a
reader never waits for the writer) and applies the schema when the file's `PRAGMA
user_version` is older than `schema_version`; a newer one is refused (a database of a newer
atlas-ha is never written by an older one). An SQLite error while opening is the
subclass's `error(exc)` (FormatError naming the file by default); an OSError (a directory
that cannot be made) is left to the caller. Use as a context manager or call close().
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from atlas_ha.errors import AtlasError, FormatError


class SqliteDb:
    schema = ""
    schema_version = 1
    what = "SQLite database"
    timeout = 10.0  # seconds a writer waits for another's lock
    wal = True
    mode: int | None = 0o600  # the file's mode (None: as SQLite creates it)
    parents = True  # make missing parent directories (False: only the last one)

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=self.parents, exist_ok=True)
        if self.mode is not None:
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, self.mode))
            os.chmod(path, self.mode)
        try:
            self.db = sqlite3.connect(path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        try:
            self._migrate()
        except sqlite3.Error as exc:
            self.db.close()
            raise self.error(exc) from exc

    def error(self, exc: sqlite3.Error) -> AtlasError:
        return FormatError(self.path, None, f"a {self.what} ({exc})")

    def _migrate(self) -> None:
        if self.wal:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > self.schema_version:
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this atlas-ha's {self.schema_version}"
            )
        if version < self.schema_version:
            with self.transaction():
                for statement in filter(str.strip, self.schema.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={int(self.schema_version)}")
        if self.wal and self.mode is not None:
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(f"{self.path}{suffix}", self.mode)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock taken at once), committed
        at the end of the block, rolled back when it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
