"""Connections a long-running PRI (the daemon) keeps from one SyncCycle to the next.

A connection costs an ssh login and the partner's start-up (bash, Python, imports): most of
a steady-state cycle. The daemon keeps each SEC's connection open after a cycle that reached
it, and the next cycle reuses it when it is still alive, leads to the same partner (address,
ssh user and port, our own address) and is younger than `max_age` (so that a partner's
changed settings or upgraded software are picked up within that time). Everything else the
cycle does is unchanged: every cycle starts with a `hello` that the SEC verifies again
(SPEC 5.8). A kept connection that fails at that `hello` is replaced once by a new one (see
`sync.cycle`), so a SEC that was rebooted between two cycles is not reported unreachable.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atlas_ha.settings import transport_seconds
from atlas_ha.system import Clock
from atlas_ha.transport.base import Connection, close_quietly

if TYPE_CHECKING:
    from atlas_ha.settings import Settings

DEFAULT_MAX_AGE = 3600.0  # seconds


def kept_connections(settings: Settings, clock: Clock) -> KeptConnections | None:
    """What `[transport] keep = "SECONDS"` asks of the daemon (default 3600; "0": close every
    connection after its cycle)."""
    seconds = transport_seconds(settings, "keep", DEFAULT_MAX_AGE)
    return KeptConnections(clock, seconds) if seconds > 0 else None


@dataclass
class Kept:
    """A connection with what it leads to and when it was opened (its age counts from then)."""

    key: Hashable
    conn: Connection
    opened: float


class KeptConnections:
    def __init__(self, clock: Clock, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.clock = clock
        self.max_age = max_age
        self._kept: dict[str, Kept] = {}
        self._lock = threading.Lock()

    def take(self, role: str, key: Hashable) -> Kept | None:
        """The kept connection to `role`, if it may be reused for `key`; any other one kept
        for `role` is closed."""
        with self._lock:
            kept = self._kept.pop(role, None)
        if kept is None:
            return None
        fresh = self.clock.monotonic() - kept.opened < self.max_age
        if kept.key == key and fresh and kept.conn.alive():
            return kept
        close_quietly(kept.conn)
        return None

    def give_back(self, role: str, kept: Kept) -> None:
        """Keep `kept` for the next cycle if its connection is still alive, else close it."""
        if self.max_age <= 0 or not kept.conn.alive():
            close_quietly(kept.conn)
            return
        with self._lock:
            old = self._kept.pop(role, None)
            self._kept[role] = kept
        if old is not None and old.conn is not kept.conn:
            close_quietly(old.conn)

    def close_all(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for entry in kept:
            close_quietly(entry.conn)

    def count(self) -> int:
        """How many connections are kept now."""
        return len(self._kept)
