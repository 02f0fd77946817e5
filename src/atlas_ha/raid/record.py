"""The rotation record on ESD_DATA (EsdData.raid_record_file): per array, the events of the
rotation in order: rotate-out (member, its UUID and event count), rotate-in, check (its
mismatch_cnt) and alert (a check that found mismatches). Written atomically, whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atlas_ha.errors import FormatError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.esd import EsdData

VERSION = 1
KINDS = {"rotate-out", "rotate-in", "check", "alert"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Record:
    def __init__(self, esd: EsdData) -> None:
        self.path: Path = esd.raid_record_file

    def load(self) -> dict[str, list[dict[str, Any]]]:
        text = read_text_or_none(self.path)
        if text is None:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(self.path, exc.lineno, f"expected JSON ({exc.msg})") from exc
        arrays = data.get("arrays") if isinstance(data, dict) else None
        if data.get("version") != VERSION or not isinstance(arrays, dict):
            raise FormatError(self.path, None, f'expected {{"version": {VERSION}, "arrays": {{}}}}')
        for name, events in arrays.items():
            if not isinstance(events, list) or not all(
                isinstance(e, dict) and e.get("kind") in KINDS for e in events
            ):
                raise FormatError(self.path, None, f"arrays.{name}: expected a list of events")
        return arrays

    def events(self, array: str) -> list[dict[str, Any]]:
        return self.load().get(array, [])

    def last(self, array: str, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events(array)) if e["kind"] == kind), None)

    def add(self, array: str, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"kind": kind, "time": _now(), **fields}
        arrays = self.load()  # the caller holds EsdData.raid_lock_file (rotate.py)
        arrays.setdefault(array, []).append(event)
        text = json.dumps({"version": VERSION, "arrays": arrays}, indent=2, sort_keys=True)
        atomic_write(self.path, text + "\n", mode=0o644)
        return event
