"""The crash-signature store (SPEC 7.3, seed [P404-P405]): SQLite at `EsdData.crash_store_file`.

Per signature: its kind (exception | core), title, the cleaned traceback (what the signature
hashes), the first raw traceback, the first core (lzma-compressed), when it was first seen,
the version it was marked fixed in, and where it came from (local, or the bundle it was
imported from). Per occurrence: time, server, role, program, atlas-ha version and the log
file of the run. A bundle (`export`/`import_bundle`) is JSON lines, one signature a line,
merged by signature: a known problem imported from another site raises no alert here.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_ha.errors import BundleFormatError, CrashStoreError, UnknownSignatureError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sqlitedb import SqliteDb
from atlas_ha.ops.signature import Crash

SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures (
    signature TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    cleaned TEXT NOT NULL,
    first_raw TEXT,
    core BLOB,
    first_seen REAL NOT NULL,
    fixed_in TEXT,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS occurrences (
    id INTEGER PRIMARY KEY,
    signature TEXT NOT NULL REFERENCES signatures(signature),
    time REAL NOT NULL,
    server TEXT NOT NULL,
    role TEXT,
    program TEXT,
    version TEXT NOT NULL,
    log_file TEXT
);
CREATE TABLE IF NOT EXISTS seen_cores (key TEXT PRIMARY KEY, time REAL NOT NULL);
"""
SIG_RE = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("exception", "core")
BUNDLE_KEYS = {"signature", "kind", "title", "cleaned", "first_seen", "fixed_in", "occurrences"}
# outcomes of `record`; the first two alert
NEW, RECURRING, KNOWN, FIXED_LATER = "new", "recurring after fix", "known", "known, fixed later"


@dataclass(frozen=True)
class Occurrence:
    time: float
    server: str
    role: str | None
    program: str | None
    version: str
    log_file: str | None


def version_key(version: str) -> tuple[int, ...]:
    """0.2.0 -> (0, 2, 0); a suffix (0.2.0-test, 0.2.0rc1) ends the comparison."""
    parts = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(parts)


class CrashStore(SqliteDb):
    """The store; use as a context manager or close(). Every failure is a CrashStoreError."""

    schema = SCHEMA
    what = "crash store"
    timeout = 30.0
    wal = False  # one writer at a time, rarely: a plain rollback journal
    mode = None  # as SQLite creates it
    parents = False  # in ESD_DATA, never making it

    def __init__(self, path: Path) -> None:
        try:
            super().__init__(path)
        except OSError as exc:
            raise CrashStoreError(f"{path}: cannot open the crash store: {exc}") from exc

    def error(self, exc: sqlite3.Error) -> CrashStoreError:
        return CrashStoreError(f"{self.path}: cannot open the crash store: {exc}")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.transaction() as db:
                yield db
        except sqlite3.Error as exc:
            raise CrashStoreError(f"{self.path}: {exc}") from exc

    def record(self, crash: Crash, kind: str, seen: Occurrence, core: bytes | None = None) -> str:
        """Add an occurrence (and the signature, if new); the outcome (NEW and RECURRING
        ask for an alert)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT fixed_in, core IS NOT NULL FROM signatures WHERE signature = ?",
                (crash.signature,),
            ).fetchone()
            packed = lzma.compress(core) if core is not None else None
            if row is None:
                outcome = NEW
                db.execute(
                    "INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'local')",
                    (
                        crash.signature,
                        kind,
                        crash.title,
                        crash.cleaned,
                        crash.raw,
                        packed,
                        seen.time,
                    ),
                )
            else:
                fixed_in, has_core = row
                if fixed_in is None:
                    outcome = KNOWN
                elif version_key(seen.version) >= version_key(fixed_in):
                    outcome = RECURRING
                else:
                    outcome = FIXED_LATER
                if packed is not None and not has_core:
                    db.execute(
                        "UPDATE signatures SET core = ? WHERE signature = ?",
                        (packed, crash.signature),
                    )
            db.execute(
                "INSERT INTO occurrences (signature, time, server, role, program, version,"
                " log_file) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    crash.signature,
                    seen.time,
                    seen.server,
                    seen.role,
                    seen.program,
                    seen.version,
                    seen.log_file,
                ),
            )
        return outcome

    def core_seen(self, key: str) -> bool:
        with self._tx() as db:
            return (
                db.execute("SELECT 1 FROM seen_cores WHERE key = ?", (key,)).fetchone() is not None
            )

    def mark_core_seen(self, key: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO seen_cores VALUES (?, ?)", (key, time.time()))

    def resolve(self, prefix: str) -> str:
        """The one signature starting with `prefix` (at least 6 hex digits)."""
        if not re.match(r"^[0-9a-f]{6,64}$", prefix):
            raise UnknownSignatureError(f"{prefix!r}: expected a signature (6 to 64 hex digits)")
        with self._tx() as db:
            rows = db.execute(
                "SELECT signature FROM signatures WHERE substr(signature, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
        if len(rows) != 1:
            why = "no signature" if not rows else f"{len(rows)} signatures"
            raise UnknownSignatureError(f"{prefix}: {why} in {self.path} start with it")
        return str(rows[0][0])

    def summaries(self) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT s.signature, s.kind, s.title, s.first_seen, s.fixed_in, s.source,"
                " count(o.id), max(o.time) FROM signatures s"
                " LEFT JOIN occurrences o ON o.signature = s.signature"
                " GROUP BY s.signature ORDER BY coalesce(max(o.time), s.first_seen) DESC"
            ).fetchall()
        keys = (
            "signature",
            "kind",
            "title",
            "first_seen",
            "fixed_in",
            "source",
            "count",
            "last_seen",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def show(self, signature: str) -> dict[str, Any]:
        sig = self.resolve(signature)
        with self._tx() as db:
            row = db.execute(
                "SELECT kind, title, cleaned, first_raw, length(core), first_seen, fixed_in, source"
                " FROM signatures WHERE signature = ?",
                (sig,),
            ).fetchone()
            seen = db.execute(
                "SELECT time, server, role, program, version, log_file FROM occurrences"
                " WHERE signature = ? ORDER BY time",
                (sig,),
            ).fetchall()
        keys = (
            "kind",
            "title",
            "cleaned",
            "first_raw",
            "core_bytes",
            "first_seen",
            "fixed_in",
            "source",
        )
        info = {"signature": sig, **dict(zip(keys, row, strict=True))}
        info["occurrences"] = [
            dict(zip(("time", "server", "role", "program", "version", "log_file"), o, strict=True))
            for o in seen
        ]
        return info

    def core(self, signature: str) -> bytes | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT core FROM signatures WHERE signature = ?", (signature,)
            ).fetchone()
        return lzma.decompress(row[0]) if row and row[0] is not None else None

    def mark_fixed(self, signature: str, version: str) -> str:
        if not version_key(version):
            raise UnknownSignatureError(f"{version!r}: expected a version like 0.2.0")
        sig = self.resolve(signature)
        with self._tx() as db:
            db.execute("UPDATE signatures SET fixed_in = ? WHERE signature = ?", (version, sig))
        return sig

    def export(self, path: Path) -> int:
        """Write every signature as a bundle line (no raw traceback, no core, no occurrence
        details: those name this site's machines); the number written."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT s.signature, s.kind, s.title, s.cleaned, s.first_seen, s.fixed_in,"
                " count(o.id) FROM signatures s LEFT JOIN occurrences o"
                " ON o.signature = s.signature GROUP BY s.signature ORDER BY s.signature"
            ).fetchall()
        keys = ("signature", "kind", "title", "cleaned", "first_seen", "fixed_in", "occurrences")
        text = "".join(
            json.dumps(dict(zip(keys, r, strict=True)), sort_keys=True) + "\n" for r in rows
        )
        atomic_write(path, text, mode=0o644)
        return len(rows)

    def import_bundle(self, path: Path) -> dict[str, int]:
        """Merge a bundle by signature: every line validated first (BundleFormatError naming
        the line; nothing merged then); new signatures added without occurrences, a known
        one takes the bundle's fixed_in when it has none."""
        entries = read_bundle(path)
        counts = {"added": 0, "updated": 0, "known": 0}
        with self._tx() as db:
            for entry in entries:
                row = db.execute(
                    "SELECT fixed_in FROM signatures WHERE signature = ?", (entry["signature"],)
                ).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO signatures VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
                        (
                            entry["signature"],
                            entry["kind"],
                            entry["title"],
                            entry["cleaned"],
                            entry["first_seen"],
                            entry["fixed_in"],
                            f"import:{path.name}",
                        ),
                    )
                    counts["added"] += 1
                elif row[0] is None and entry["fixed_in"] is not None:
                    db.execute(
                        "UPDATE signatures SET fixed_in = ? WHERE signature = ?",
                        (entry["fixed_in"], entry["signature"]),
                    )
                    counts["updated"] += 1
                else:
                    counts["known"] += 1
        return counts


def read_bundle(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleFormatError(f"{path}: cannot read the bundle: {exc.strerror}") from exc
    entries = []
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        entries.append(bundle_entry(line, f"{path}:{number}"))
    return entries


def bundle_entry(line: bytes, where: str) -> dict[str, Any]:
    """One bundle line, validated: a JSON object with exactly the bundle's keys, each of its
    type, whose signature is the SHA-256 of its cleaned traceback."""

    def bad(expected: str) -> BundleFormatError:
        return BundleFormatError(f"{where}: expected {expected}")

    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"one JSON object per line ({exc})") from exc
    if not isinstance(entry, dict):
        raise bad("a JSON object")
    if set(entry) != BUNDLE_KEYS:
        missing, extra = BUNDLE_KEYS - set(entry), set(entry) - BUNDLE_KEYS
        raise bad(
            f"the keys {sorted(BUNDLE_KEYS)} (missing {sorted(missing)}, unknown {sorted(extra)})"
        )
    if not isinstance(entry["signature"], str) or not SIG_RE.match(entry["signature"]):
        raise bad("signature = 64 lowercase hex digits")
    if entry["kind"] not in KINDS:
        raise bad(f"kind = one of {list(KINDS)}")
    for key in ("title", "cleaned"):
        if not isinstance(entry[key], str) or not entry[key]:
            raise bad(f"{key} = a non-empty string")
    if type(entry["first_seen"]) not in (int, float) or not entry["first_seen"] >= 0:
        raise bad("first_seen = a time (seconds since 1970)")
    if entry["fixed_in"] is not None and (
        not isinstance(entry["fixed_in"], str) or not version_key(entry["fixed_in"])
    ):
        raise bad("fixed_in = null or a version like 0.2.0")
    if type(entry["occurrences"]) is not int or entry["occurrences"] < 0:
        raise bad("occurrences = a non-negative integer")
    if not Crash.verify(entry["signature"], entry["cleaned"]):
        raise bad("signature = the SHA-256 of its cleaned traceback (it is not)")
    return entry
