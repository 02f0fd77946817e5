"""Event and alert records of the operations (start limits, degraded logs, crashes).

One function, `emit_alert`: it appends a JSON line to `EsdData.events_file`, then hands the
alert to the ops_alert event (`hooks.notify`): the alert engine of report/ listens there and
sends it through the channels of the alert rules (a new crash signature once). A record that
cannot be written (the disk holding ESD_DATA is full) is printed on stderr instead, and a
listener that fails too: an alert is never lost silently and never stops the run that raised
it. With no listener installed, the record is all there is."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from atlas_ha import hooks
from atlas_ha.layout.esd import EsdData
from atlas_ha.settings import Settings


def emit_alert(settings: Settings, kind: str, text: str, **details: Any) -> bool:
    """Record an event of `kind` (e.g. "start-limit", "log-degraded", "crash-new") about this
    server and give it to the ops_alert listeners; True if it reached the events file, False
    if it went to stderr instead."""
    written = _record(settings, kind, text, details)
    notice = hooks.Notice(kind, text, time.time(), dict(details))
    for failure in hooks.notify(settings, notice):
        print(f"atlas-ha: ALERT {kind}: {text} ({failure})", file=sys.stderr)
    return written


def _record(settings: Settings, kind: str, text: str, details: dict[str, Any]) -> bool:
    record = {"time": time.time(), "server": settings.name, "kind": kind, "text": text}
    record.update(details)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    path = EsdData(settings.esd_data).events_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())  # one write: appended whole, whoever else appends
        finally:
            os.close(fd)
    except OSError as exc:
        print(
            f"atlas-ha: ALERT {kind}: {text} (events file {path}: {exc.strerror})", file=sys.stderr
        )
        return False
    return True


def read_events(settings: Settings) -> list[dict[str, Any]]:
    """The records written so far (lines that do not parse are skipped: a torn last line)."""
    path = EsdData(settings.esd_data).events_file
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found
