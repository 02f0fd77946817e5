"""`atlas-ha logs [PROGRAM] [--run ID] [--follow]` (SPEC 7.2): the lines of the run logs, and
with `follow` every line appended afterwards, like `tail -F` over a program's logs.

Following never stops at the file that was newest when it started: every log of the program
(of every program when none is named) that appears later is followed too (the next run's
per-run log, the next UTC day's daily log); a log that retention compresses while it is read
(NAME -> NAME.gz, then NAME removed) is finished from the compressed copy, from where the
reading stood, so no line is lost or shown twice. With a run id, only that run's lines are
shown, their continuation lines (a traceback's) included.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.layout.esd import EsdData
from atlas_ha.ops.logs import lines as file_lines
from atlas_ha.ops.logs import log_files, select


@dataclass
class _Tail:
    """A log being read: how far (bytes of its uncompressed text), the unfinished last line,
    whether the last whole line belonged to the run asked for."""

    path: Path
    run_id: str | None
    offset: int = 0
    partial: bytes = b""
    keep: bool = False

    def read(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        return self._take(data)

    def finish_from(self, compressed: Path) -> list[str]:
        """The rest of the text from its compressed copy (the original is gone)."""
        try:
            data = gzip.decompress(compressed.read_bytes())
        except (OSError, EOFError):
            return []
        got = self._take(data[self.offset :])
        if self.partial:  # a last line without its newline: the file is finished, show it
            got += self._lines([self.partial])
            self.partial = b""
        return got

    def _take(self, data: bytes) -> list[str]:
        self.offset += len(data)
        chunks = (self.partial + data).split(b"\n")
        self.partial = chunks.pop()
        return self._lines(chunks)

    def _lines(self, chunks: list[bytes]) -> list[str]:
        shown = []
        for chunk in chunks:
            line = chunk.decode("utf-8", "surrogateescape")
            if self.run_id is not None and not line.startswith(" "):
                parts = line.split(" ", 3)
                self.keep = len(parts) > 2 and parts[2] == self.run_id
            if self.run_id is None or self.keep:
                shown.append(line)
        return shown


def show(
    esd: EsdData,
    program: str | None,
    run_id: str | None,
    *,
    follow: bool = False,
    stop: Callable[[], bool] = lambda: False,
    poll: float = 0.5,
) -> Iterator[str]:
    """The lines of the logs of `program` (run `run_id`'s only, when given), oldest log
    first; with `follow`, then every line appended to them or to the logs that appear, until
    `stop()`. NoLogsError when there is no such log."""
    tails: dict[Path, _Tail] = {}
    seen: set[str] = set()
    for log in select(esd, program, run_id):
        seen.update(_names(log.path))
        if log.compressed:
            yield from file_lines(log.path, run_id)
        else:
            tail = tails[log.path] = _Tail(log.path, run_id)
            yield from tail.read()
    while follow and not stop():
        got = False
        for path, tail in list(tails.items()):
            new = tail.read()
            if not path.exists():  # compressed by retention (or removed): finish it
                new += tail.finish_from(path.with_name(path.name + ".gz"))
                del tails[path]
            got = got or bool(new)
            yield from new
        for log in log_files(esd):
            if log.path.name in seen or log.pid == os.getpid():
                continue
            if program is not None and log.program != program:
                continue
            seen.update(_names(log.path))
            if log.compressed:  # appeared and finished before we saw it
                new = list(file_lines(log.path, run_id))
            else:
                tail = tails[log.path] = _Tail(log.path, run_id)
                new = tail.read()
            got = got or bool(new)
            yield from new
        if not got:
            time.sleep(poll)


def _names(path: Path) -> set[str]:
    base = path.name.removesuffix(".gz")
    return {base, base + ".gz"}
