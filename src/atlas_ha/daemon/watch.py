"""Change-triggered SyncCycles: the PRI's daemon watches what its next Create reads.

What is watched: every path of the PRI's area (SyncFilePaths and IdentFilePaths,
`sync.create.listed_paths`), below the system root. A listed directory is watched with all
its subdirectories (new ones are added as they appear); a listed file, symlink or missing
path through its parent directory (the nearest existing ancestor for a missing one), for
that name only. The Verifier's test data (written by SetUp on every cycle) is not watched,
nor are atlas-ha's own temporary names counted apart from the file they replace.

A change is only a reason to cycle sooner: the cycle itself still reads the system with
Create's stat-based detection and its full-validation fallback, so a lost or coalesced event
costs latency, never correctness, and the periodic cycle stays as the safety net. The cycle
starts `debounce` seconds after the last change of a burst (at the latest 10 x debounce
after its first), so a package upgrade writing 300 files is one cycle, or two when the burst
outlasts a cycle's start.

Degrading: when a watch cannot be added (ENOSPC: fs.inotify.max_user_watches reached; EMFILE:
max_user_instances; EACCES or any other error on a path), the watcher logs why, closes, and
the daemon goes on with the periodic cycle only (until it is restarted). A path that does
not exist is watched through its ancestor, not an error.

All watch bookkeeping happens in the watcher's own thread; the daemon loop only reads when
a cycle is due (`due`), takes the pending change (`take`) and asks for a refresh after a
turn (`refresh`), because a cycle may change the path lists.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.daemon import inotify
from atlas_ha.errors import AtlasError
from atlas_ha.layout.tempnames import TEMP_RE
from atlas_ha.sync.create import listed_paths
from atlas_ha.verifier.setup import test_data_paths

POLL = 0.5  # seconds: how often the watcher thread looks at `stop` and refresh requests
LATEST = 10  # a burst cycles at the latest LATEST x debounce after its first change
DIR_MASK = inotify.CHANGES | inotify.IN_ONLYDIR | inotify.IN_DONT_FOLLOW
SKIPPED = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}  # gone while we looked: not an error


@dataclass
class _Watch:
    directory: str
    tree: bool  # everything below is watched (a listed directory or inside one)
    names: set[str] = field(default_factory=set)  # else: the children that matter


@dataclass
class ChangeWatch:
    server: Server
    debounce: float
    log: Callable[[str], None] = print
    wake: threading.Event = field(default_factory=threading.Event)  # the loop waits on it
    off: str | None = None  # why change-triggered cycles are off (None: on)
    _ino: inotify.Inotify | None = None
    _watches: dict[int, _Watch] = field(default_factory=dict)
    _by_dir: dict[str, int] = field(default_factory=dict)
    _quiet: tuple[str, ...] = ()
    _root: str = ""  # the system root, as the watched paths start with it
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _first: float | None = None
    _last: float = 0.0
    _changes: int = 0
    _example: str = ""
    _refresh: bool = True
    _thread: threading.Thread | None = None

    # -- the daemon loop's side -------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self._run, args=(stop,), daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def due(self) -> float | None:
        """The monotonic time a change-triggered cycle is due; None: no change pending."""
        with self._lock:
            if self._first is None:
                return None
            return min(self._last + self.debounce, self._first + LATEST * self.debounce)

    def take(self) -> str:
        """The pending change as the reason of a cycle (and forget it: the cycle reads all)."""
        with self._lock:
            count, example, self._first, self._changes = self._changes, self._example, None, 0
        more = f" and {count - 1} more event(s)" if count > 1 else ""
        return f"a change ({example}{more})"

    def refresh(self) -> None:
        """Re-read the path lists before the next event (a cycle may have changed them)."""
        self._refresh = True

    # -- the watcher thread -------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        try:
            self._ino = inotify.Inotify()
            while not stop.is_set() and self.off is None:
                if self._refresh:
                    self._refresh = False
                    self._rebuild()
                if select.select([self._ino.fd], [], [], POLL)[0]:
                    self._drain()
        except OSError as exc:
            self._degrade(_reason(exc))
        except Exception as exc:  # the watcher must never take the daemon down with it
            self._degrade(f"the watcher failed: {exc!r}")
        finally:
            if self._ino is not None:
                self._ino.close()
            self.wake.set()

    def _degrade(self, reason: str) -> None:
        if self.off is None:
            self.off = reason
            self.log(
                f"change-triggered SyncCycles off: {reason}; the periodic SyncCycle stays "
                "(restart the daemon once this is fixed)"
            )

    def _rebuild(self) -> None:
        """Watch what the PRI's next Create reads; stop watching what it no longer does."""
        wanted: dict[str, _Watch] = {}
        server, root = self.server, str(self.server.settings.system_root).rstrip("/")
        try:
            area = server.sid.area("PRI", server.env_id) if server.role() == "PRI" else None
            listed = listed_paths(area) if area is not None else []
            quiet = test_data_paths(area.path) if area is not None else []
        except AtlasError:  # no role, a malformed list: the turn says so; retry after it
            area, listed, quiet = None, [], []
        self._root, self._quiet = root, tuple(root + p for p in quiet)
        for path in listed:
            self._want(wanted, root + path)
        for directory in set(self._by_dir) - set(wanted):
            self._forget(self._by_dir[directory], remove=True)
        for directory, want in wanted.items():
            if directory in self._by_dir:
                held = self._watches[self._by_dir[directory]]
                held.tree, held.names = want.tree, want.names
            else:
                self._add(want)

    def _want(self, wanted: dict[str, _Watch], path: str) -> None:
        if self._is_quiet(path):
            return
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            mode = 0
        if stat.S_ISDIR(mode):
            for top, dirs, _files in os.walk(path):
                dirs[:] = [d for d in dirs if not self._is_quiet(f"{top}/{d}")]
                wanted[top] = _Watch(top, tree=True)
            return
        parent, _, name = path.rpartition("/")
        while parent and not Path(parent).is_dir():  # missing: its nearest existing ancestor
            parent, _, name = parent.rpartition("/")
        held = wanted.setdefault(parent or "/", _Watch(parent or "/", tree=False))
        held.names.add(name)

    def _add(self, want: _Watch) -> None:
        assert self._ino is not None
        try:
            self.server.faults.checkpoint("watch.add")  # tests: errno:ENOSPC (faults.py)
            wd = self._ino.add_watch(want.directory, DIR_MASK)
        except OSError as exc:
            if exc.errno in SKIPPED:
                return
            raise OSError(exc.errno, exc.strerror, want.directory) from exc
        held = self._watches.get(wd)
        if held is not None:  # the same directory under another name: keep both wishes
            held.tree = held.tree or want.tree
            held.names |= want.names
            return
        self._watches[wd] = want
        self._by_dir[want.directory] = wd

    def _forget(self, wd: int, remove: bool) -> None:
        held = self._watches.pop(wd, None)
        if held is not None:
            self._by_dir.pop(held.directory, None)
            if remove and self._ino is not None:
                self._ino.rm_watch(wd)

    def _drain(self) -> None:
        assert self._ino is not None
        for event in list(self._ino.read()):
            if event.mask & inotify.IN_Q_OVERFLOW:
                self._changed("events lost (inotify queue overflow)")
                self._refresh = True
                continue
            held = self._watches.get(event.wd)
            if held is None:
                continue
            if event.mask & inotify.IN_IGNORED:  # the directory went away
                self._forget(event.wd, remove=False)
                self._refresh = True
                continue
            name = event.name
            if name and (temp := TEMP_RE.match(name)) is not None:
                name = temp["name"]  # an atomic write of NAME
            itself = event.mask & (inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF)
            if not held.tree and name not in held.names and (name or not itself):
                continue
            path = f"{held.directory.rstrip('/')}/{name}" if name else held.directory
            if self._is_quiet(path):
                continue
            if event.mask & inotify.IN_ISDIR and event.mask & (
                inotify.IN_CREATE | inotify.IN_MOVED_TO
            ):
                self._refresh = True  # watch the new directory (or the path it leads to)
            self._changed(path[len(self._root) :] or "/")

    def _changed(self, what: str) -> None:
        now = self.server.clock.monotonic()
        with self._lock:
            if self._first is None:
                self._first, self._example = now, what
                self.wake.set()  # the loop learns when the cycle is due
            self._last = now
            self._changes += 1

    def _is_quiet(self, path: str) -> bool:
        return any(path == q or path.startswith(q + "/") for q in self._quiet)


def _reason(exc: OSError) -> str:
    where = f" at {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"the inotify watch limit is reached{where} (fs.inotify.max_user_watches; "
            f"{exc.strerror})"
        )
    if exc.errno == errno.EMFILE:
        return f"no inotify instance left (fs.inotify.max_user_instances; {exc.strerror})"
    return f"cannot watch{where}: {exc.strerror or exc}"
