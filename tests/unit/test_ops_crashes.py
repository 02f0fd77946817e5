"""The crash store and handler (ops/crashstore.py, ops/crash.py): one entry per signature,
every occurrence kept, an alert only for a new signature or one recurring at or after the
version it was fixed in; bundles merged by signature, every line checked; uncaught exceptions
of the main thread and of other threads recorded by the wrapper's hooks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from atlas_ha.errors import BundleFormatError, UnknownSignatureError
from atlas_ha.ops import crash
from atlas_ha.ops.crashstore import FIXED_LATER, KNOWN, NEW, RECURRING, CrashStore, Occurrence
from atlas_ha.ops.notify import read_events
from atlas_ha.ops.signature import Crash, of_exception
from atlas_ha.settings import Settings, from_dict

SRC = Path(__file__).resolve().parents[2] / "src"


def settings_in(tmp: Path, **tables: object) -> Settings:
    (tmp / "esd").mkdir(parents=True, exist_ok=True)
    (tmp / "sid").mkdir(exist_ok=True)
    data = {"name": "A", "system_root": str(tmp), "esd_data": "esd", "sid_data": "sid", **tables}
    path = tmp / "atlas-ha.toml"
    lines = [f'{k} = "{v}"' for k, v in data.items() if isinstance(v, str)]
    for table, values in tables.items():
        assert isinstance(values, dict)
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return from_dict({k: v for k, v in data.items()}, path)


def a_crash(kind: type[Exception] = ValueError) -> Crash:
    try:
        raise kind("boom")
    except Exception as exc:
        return of_exception(exc)


def seen(version: str = "0.1.0") -> Occurrence:
    return Occurrence(1.0e9, "A", "PRI", "sync-cycle", version, "/x.log")


def test_one_entry_per_signature_every_occurrence_and_the_outcomes(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes.sqlite")
    fault = a_crash()
    assert store.record(fault, "exception", seen()) == NEW
    assert store.record(fault, "exception", seen()) == KNOWN
    assert store.record(a_crash(KeyError), "exception", seen()) == NEW
    rows = {r["signature"]: r for r in store.summaries()}
    assert len(rows) == 2 and rows[fault.signature]["count"] == 2
    store.mark_fixed(fault.signature[:10], "0.2.0")
    assert store.record(fault, "exception", seen("0.1.5")) == FIXED_LATER  # an old install
    assert store.record(fault, "exception", seen("0.2.0")) == RECURRING  # the fix did not hold
    info = store.show(fault.signature[:8])
    assert len(info["occurrences"]) == 4 and info["first_raw"].startswith("Traceback")
    assert info["occurrences"][0] == {
        "time": 1.0e9,
        "server": "A",
        "role": "PRI",
        "program": "sync-cycle",
        "version": "0.1.0",
        "log_file": "/x.log",
    }
    with pytest.raises(UnknownSignatureError, match="no signature"):
        store.show("abcdef00")


def test_export_import_merges_by_signature_and_known_problems_raise_no_alert(
    tmp_path: Path,
) -> None:
    site_a = settings_in(tmp_path / "a")
    site_b = settings_in(tmp_path / "b")
    fault = a_crash()
    crash._record(site_a, fault, "exception", crash.RunInfo("boot", None))
    assert [e["kind"] for e in read_events(site_a)] == ["crash-new"]
    store_a = crash.store_for(site_a)
    bundle = tmp_path / "bundle.jsonl"
    assert store_a.export(bundle) == 1
    line = json.loads(bundle.read_text())
    assert "first_raw" not in line and line["occurrences"] == 1  # no machine specifics
    store_b = crash.store_for(site_b)
    assert store_b.import_bundle(bundle) == {"added": 1, "updated": 0, "known": 0}
    assert store_b.import_bundle(bundle) == {"added": 0, "updated": 0, "known": 1}
    assert crash._record(site_b, fault, "exception", crash.RunInfo("boot", None)) == KNOWN
    assert read_events(site_b) == []  # known from site A: no alert
    store_a.mark_fixed(fault.signature, "0.3.0")
    store_a.export(bundle)
    assert store_b.import_bundle(bundle)["updated"] == 1
    assert store_b.show(fault.signature)["fixed_in"] == "0.3.0"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: "not json", "one JSON object per line"),
        (lambda e: {**e, "extra": 1}, "unknown ['extra']"),
        (lambda e: {**e, "signature": "ABC"}, "signature = 64 lowercase hex"),
        (lambda e: {**e, "cleaned": e["cleaned"] + "x"}, "SHA-256 of its cleaned traceback"),
        (lambda e: {**e, "fixed_in": "soon"}, "fixed_in = null or a version"),
        (lambda e: {**e, "kind": "bug"}, "kind = one of"),
    ],
)
def test_a_bad_bundle_line_is_named_and_nothing_is_imported(
    tmp_path: Path, change: object, expected: str
) -> None:
    store = CrashStore(tmp_path / "s.sqlite")
    store.record(a_crash(), "exception", seen())
    store.record(a_crash(KeyError), "exception", seen())
    bundle = tmp_path / "bundle.jsonl"
    store.export(bundle)
    first, second = bundle.read_text().splitlines()
    bad = change(json.loads(second))  # type: ignore[operator]
    bundle.write_text(first + "\n" + (bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    other = CrashStore(tmp_path / "other.sqlite")
    with pytest.raises(BundleFormatError, match=f"{bundle}:2: expected .*") as err:
        other.import_bundle(bundle)
    assert expected in str(err.value)
    assert other.summaries() == []  # line 1 was good, and still nothing merged


HOOKED = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, {src!r})
    from atlas_ha.settings import load
    from atlas_ha.ops.run import run
    settings = load(__import__("pathlib").Path({config!r}))
    with run(settings, "verify-run"):
        def worker():
            raise LookupError("in a thread")
        t = threading.Thread(target=worker, name="prober")
        t.start(); t.join()
        raise ZeroDivisionError("in the main thread")
    """
)


def test_uncaught_exceptions_of_threads_and_of_the_main_program_are_recorded(
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path)
    script = HOOKED.format(src=str(SRC), config=str(settings.config_file))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1 and "ZeroDivisionError" in done.stderr
    store = crash.store_for(settings)
    titles = sorted(r["title"] for r in store.summaries())
    assert titles == ["LookupError: in a thread", "ZeroDivisionError: in the main thread"]
    kinds = [e["kind"] for e in read_events(settings)]
    assert kinds == ["crash-new", "crash-new"]
    log = next((settings.esd_data / "logs").glob("verify-run.*.local.log")).read_text()
    assert "uncaught LookupError in thread prober: crash recorded (new)" in log
    assert log.rstrip().splitlines()[-1].split(" ", 3)[3].startswith("exit 1 after ")
    occurrence = store.show(store.summaries()[0]["signature"])["occurrences"][0]
    assert occurrence["program"] == "verify-run" and occurrence["log_file"].endswith(".log")
