"""Version control of every change in SID_DATA (SPEC 5.11), in git.

The repository's work tree is SID_DATA itself (GIT_DIR = SID_DATA/.git, mode 0700). Every
Create, received snapshot and conversion is one commit of the area(s) it touched, with
trailers naming the operation, role, EnvVersion and server::

    create PRI/Env2 on A

    Atlas-Operation: create
    Atlas-Role: PRI
    Atlas-Env: 2
    Atlas-Server: A

Flags and private working data are not recorded (.gitignore). Owner and mode of every
object are in the Manifest, which is committed with the files.

Operators read changes with `History.log`, `History.diff` and `History.show`; restores
are in sync/restore.py.

Every write to the repository holds the history lock (a flock every atlas-ha process takes).
A git killed mid-operation (a power cut, SIGKILL of the cycle's process group) leaves its
lock files (.git/index.lock, a ref's .lock) behind, and every later git command would refuse.
So, holding the history lock, a git lock file that no live git process holds is stale: it is
removed, and the removal is logged. A git failure is reported with git's whole message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import AtlasError, HistoryError
from atlas_ha.layout import history_stage
from atlas_ha.layout.atomic import locked, read_text_or_none, write_if_changed
from atlas_ha.layout.history_stage import is_private
from atlas_ha.layout.history_stamps import Stamps
from atlas_ha.layout.manifest_diff import Staging
from atlas_ha.layout.tempnames import alive
from atlas_ha.system import Completed, Runner
from atlas_ha.text import NAMES

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LITERAL_PATHSPECS": "1",
    "LC_ALL": "C",
}
# Highest-precedence attributes: a synced .gitattributes (a copy of some system file) must
# not make git convert line endings, encodings or keywords when it stores or restores files.
NEUTRAL_ATTRIBUTES = "* -text !eol -filter -ident -working-tree-encoding -export-subst\n"
FILE_TREES = ("SyncFiles", "IdentFiles")
SPLIT_INDEX = "splitIndex = true"  # how `git config core.splitIndex true` writes it
MAX_GIT_MESSAGE = 4000  # characters of git's own error message kept in a HistoryError
OID_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # a SHA-1 or SHA-256 object name


def _message(done: Completed) -> str:
    """git's whole error message (bounded), lines joined with " / "."""
    text = (done.stderr or done.stdout).strip()
    if len(text) > MAX_GIT_MESSAGE:
        text = text[:MAX_GIT_MESSAGE] + " ..."
    return " / ".join(text.splitlines()) or "(git printed nothing)"


def git_processes_on(root: Path) -> list[int]:
    """PIDs of live git processes working on the repository of `root` (their working
    directory inside it, or GIT_DIR naming it); processes this user cannot inspect are
    not ours (SID_DATA is mode 0700)."""
    git_dir = str(root / ".git")
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "git":
                continue
            cwd = os.readlink(proc / "cwd")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        inside = cwd == str(root) or cwd.startswith(str(root) + "/")
        if inside or os.fsencode(f"GIT_DIR={git_dir}") in environ:
            found.append(int(proc.name))
    return found


AREA_RE = re.compile(r"^(PRI|SEC[1-9][0-9]*)/Env[1-9][0-9]*$")


@dataclass(frozen=True)
class Change:
    rev: str
    when: str
    subject: str
    operation: str
    role: str
    env: str
    server: str


def _quiet(_line: str) -> None:
    pass


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class History:
    def __init__(
        self, root: Path, server: str, runner: Runner, log: Callable[[str], None] = _quiet
    ) -> None:
        self.root = root
        self.server = server
        self.runner = runner
        self.alert = log
        self.stamps = Stamps(root / ".git")

    def git(self, *args: str, check: bool = True, input_text: str | None = None) -> Completed:
        env = {
            **os.environ,
            **GIT_ENV,
            "GIT_DIR": str(self.root / ".git"),
            "GIT_WORK_TREE": str(self.root),
            "HOME": str(self.root / ".git"),
        }
        try:
            done = self.runner.run(
                ["git", *args],
                env=env,
                cwd=self.root,
                check=False,
                input_text=input_text,
                errors=NAMES,
            )
        except AtlasError as exc:
            raise HistoryError(f"{self.root}: git history: {exc}") from exc
        if check and done.returncode != 0:
            raise HistoryError(
                f"{self.root}: git {args[0]} failed (exit {done.returncode}): " + _message(done)
            )
        return done

    def stamp(self) -> tuple[object, ...]:
        """A cheap stamp of the history's tip, without running git: it changes with every
        commit (the stat of HEAD, of the branch ref it names and of packed-refs); () when
        there is no history yet."""
        git_dir = self.root / ".git"
        try:
            head = (git_dir / "HEAD").read_text().strip()
        except OSError:
            return ()
        files = [git_dir / "HEAD", git_dir / "packed-refs"]
        if head.startswith("ref: "):
            files.append(git_dir / head[5:])
        found: list[object] = [head]
        for path in files:
            try:
                st = path.stat()
                found.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                found.append(None)
        return tuple(found)

    def clear_stale_locks(self) -> list[str]:
        """Remove git's lock files that no live git process holds (the caller holds the
        history lock, so no atlas-ha git runs); return the removed ones, relative to .git."""
        git_dir = self.root / ".git"
        if not git_dir.is_dir():
            return []
        found = [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]
        if not found or git_processes_on(self.root):
            return []
        removed = []
        for lock in found:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
                removed.append(str(lock.relative_to(git_dir)))
                self.alert(
                    f"ALERT history: removed the stale git lock {lock} (left by a git process "
                    "that was killed; no git runs on this history now)"
                )
        return removed

    def ensure(self) -> None:
        """Create the repository (GIT_DIR = SID_DATA/.git, mode 0700) unless it exists."""
        if not self._configured():
            with self.lock():
                self._init()

    def _configured(self) -> bool:
        """Whether the repository exists with its configuration (an init killed half-way is
        finished by the next one)."""
        config = read_text_or_none(self.root / ".git" / "config") or ""
        marks = ("atlas-ha@localhost", SPLIT_INDEX)
        return (self.root / ".git" / "HEAD").exists() and all(m in config for m in marks)

    def _init(self) -> None:
        """`ensure`, holding the history lock."""
        if self._configured():
            return
        self.clear_stale_locks()
        if not (self.root / ".git" / "HEAD").exists():
            self.git("init", "-q", "-b", "main")
        os.chmod(self.root / ".git", 0o700)
        self.git("config", "core.quotePath", "false")
        self.git("config", "user.name", "atlas-ha")
        self._neutralise()
        # a split index: a record rewrites a small index file of what changed, not the whole
        # index (13 MB at 120,000 files), which is most of what a targeted record costs
        self.git("config", "core.splitIndex", "true")
        self.git("config", "user.email", "atlas-ha@localhost")  # last: marks it configured

    def _neutralise(self) -> None:
        """Write .git/info/attributes (NEUTRAL_ATTRIBUTES); callers hold the history lock or
        have just created the repository."""
        write_if_changed(self.root / ".git" / "info" / "attributes", NEUTRAL_ATTRIBUTES)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The history lock: git's index is shared by every process recording in SID_DATA."""
        return locked(self.root / ".locks" / "history")

    def record(
        self,
        operation: str,
        role: str,
        env: int | str,
        paths: list[str],
        trailers: Mapping[str, str] | None = None,
        targeted: bool = False,
    ) -> str | None:
        """Commit the current state of `paths` (relative to SID_DATA); None if nothing changed.

        Several processes record in one SID_DATA at once (the PRI receives from every SEC in
        parallel): git's index is shared, so every record holds the history lock. `trailers`
        are added after the Atlas-* ones (e.g. Atlas-Restored-From).

        `targeted`: the caller wrote each area's Manifest over the one it had, and each area
        now holds exactly what its new Manifest describes (Create, conversions, a validated
        receive; not a restore). Then an area whose stamp shows the index holds it as its
        recorded Manifest says (layout/history_stamps.py) has only the objects whose entries
        differ between that Manifest and the new one staged (layout/manifest_diff.py): a
        changed file costs O(changed) in git instead of a re-stage of the whole area. Every
        other area is staged whole (`git add -A`).
        """
        with self.lock():
            texts = None if trailers else self._manifests(paths)
            stamps = None if texts is None else {a: _sha(t) for a, t in texts.items()}
            known = self.stamps.read()
            if not self.stamps.index_unchanged(known):
                # another writer changed the index (an operator's `git rm --cached`): no
                # stamp says what it holds any more, and this record commits that change
                known = self.stamps.forget_all()
            if targeted and stamps is not None and stamps.items() <= known.items():
                return None  # every area holds exactly what its last record committed
            plan: dict[str, Staging] = {}
            if targeted and texts is not None and stamps is not None and known:
                plan = history_stage.plan(self.git, texts, stamps, known)
            left = self.stamps.forget([p for p in paths if AREA_RE.match(p)], known)
            rev = self._record(operation, role, env, paths, trailers or {}, plan)
            # a stamp vouches that the area holds exactly its Manifest's objects: only a
            # targeted caller promises that (a site converter program may leave others)
            self.stamps.save(left, stamps if targeted and stamps else {})
            return rev

    def note(self, operation: str, role: str, env: int | str, trailers: Mapping[str, str]) -> str:
        """A commit that changes no file: an operator's decision recorded with the others
        (`atlas-ha env confirm`); its trailers name what was decided."""
        with self.lock():
            self._init()
            self.clear_stale_locks()
            message = (
                f"{operation} {role}/Env{env} on {self.server}\n\n"
                f"Atlas-Operation: {operation}\nAtlas-Role: {role}\n"
                f"Atlas-Env: {env}\nAtlas-Server: {self.server}\n"
                + "".join(f"{key}: {value}\n" for key, value in trailers.items())
            )
            known = self.stamps.read()
            trusted = self.stamps.index_unchanged(known)
            self.git("commit", "-q", "--no-verify", "--allow-empty", "-F", "-", input_text=message)
            if trusted:  # `commit` rewrote the index (its stat data), nothing else
                self.stamps.save(known, {})
            return self._head()

    # An area's Manifest names every tracked file of the area with its checksum (the path
    # lists too); while it is unchanged since the area was last recorded, `git add` would stage
    # nothing, and when it changed, only what its entries say changed needs staging.
    def _manifests(self, paths: list[str]) -> dict[str, bytes] | None:
        """{area: its Manifest} when every path is an area with a Manifest."""
        found = {}
        for rel in paths:
            if not AREA_RE.match(rel):
                return None
            try:
                found[rel] = (self.root / rel / "Manifest").read_bytes()
            except FileNotFoundError:
                return None
        return found

    def _record(
        self,
        operation: str,
        role: str,
        env: int | str,
        paths: list[str],
        trailers: Mapping[str, str],
        plan: Mapping[str, Staging],
    ) -> str | None:
        self._init()
        self.clear_stale_locks()
        self._neutralise()
        message = (
            f"{operation} {role}/Env{env} on {self.server}\n\n"
            f"Atlas-Operation: {operation}\nAtlas-Role: {role}\n"
            f"Atlas-Env: {env}\nAtlas-Server: {self.server}\n"
            + "".join(f"{key}: {value}\n" for key, value in trailers.items())
        )
        # --force: a synced file named .gitignore (a copy of, say, etckeeper's /etc/.gitignore)
        # must not hide the files it names from the history; our own private files are left
        # out by name instead of by ignore rules
        whole = [p for p in paths if p not in plan]
        changed = history_stage.stage_changed(self.git, plan)
        if whole:
            self.git("add", "-A", "--force", "--", *whole)
            staged = self._staged(whole)
            private = [name for status, name in staged if status == "A" and is_private(name)]
            if private:
                self.git("rm", "--cached", "-q", "--", *private)
            changed = changed or len(private) < len(staged)
        return self._commit(message) if changed else None

    def _commit(self, message: str) -> str:
        """Commit what is staged: the index as it is (the history lock keeps it to our
        paths), by write-tree, commit-tree and an update-ref of HEAD from its old commit.

        `git commit` would first refresh the whole index (an lstat of every file of every
        area, about half of a record's time at 12,000 files); `add` has just refreshed the
        paths recorded, and the tree written is exactly what is staged either way. The ref
        moves only from the commit read here (compare and swap): a killed record leaves at
        most a commit no ref names. The first commit of a history is a plain `commit`."""
        old = self._head_or_none()
        if old is None:
            self.git("commit", "-q", "--no-verify", "-F", "-", input_text=message)
            return self._head()
        tree = self.git("write-tree").stdout.strip()
        new = self.git("commit-tree", tree, "-p", old, "-F", "-", input_text=message)
        rev = new.stdout.strip()
        subject = message.split("\n", 1)[0]
        self.git("update-ref", "-m", f"commit: {subject}", "HEAD", rev, old)
        return rev

    def _head_or_none(self) -> str | None:
        """The commit HEAD names (its ref file, without running git when it is there); None
        before the first commit."""
        git_dir = self.root / ".git"
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head or None
        with contextlib.suppress(FileNotFoundError):
            rev = (git_dir / head[len("ref: ") :]).read_text().strip()
            if OID_RE.match(rev):
                return rev
        done = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        rev = done.stdout.strip()
        return rev if done.returncode == 0 and OID_RE.match(rev) else None

    def _head(self) -> str:
        """The commit HEAD names (`_head_or_none`); a HistoryError when there is none."""
        rev = self._head_or_none()
        if rev is None:
            raise HistoryError(f"{self.root}: git history: HEAD names no commit")
        return rev

    def _staged(self, paths: list[str]) -> list[tuple[str, str]]:
        """(status letter, path) of every staged change under `paths`."""
        out = self.git("diff", "--cached", "--name-status", "--no-renames", "-z", "--", *paths)
        fields = out.stdout.split("\0")
        return [(fields[i][:1], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]

    def log(self, paths: list[str], limit: int = 50) -> list[Change]:
        self.ensure()
        if self.git("rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0:
            return []
        fmt = (
            "%H%x1f%cI%x1f%s%x1f%(trailers:key=Atlas-Operation,valueonly,separator=)"
            "%x1f%(trailers:key=Atlas-Role,valueonly,separator=)"
            "%x1f%(trailers:key=Atlas-Env,valueonly,separator=)"
            "%x1f%(trailers:key=Atlas-Server,valueonly,separator=)%x1e"
        )
        out = self.git("log", f"-n{limit}", f"--format={fmt}", "--", *paths).stdout
        changes = []
        for record in filter(None, (r.strip("\n") for r in out.split("\x1e"))):
            fields = [f.strip() for f in record.split("\x1f")]
            changes.append(Change(*fields[:7]))
        return changes

    # -- reading and restoring earlier revisions ------------------------------------------------
    def verify(self, rev: str) -> str:
        """The commit id `rev` names (`git rev-parse --verify REV^{commit}`).

        Raises HistoryError naming `rev` when it names no commit of this history.
        """
        self.ensure()
        done = None
        if rev and not rev.startswith("-"):
            done = self.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        if done is None or done.returncode != 0:
            raise HistoryError(
                f"revision {rev!r} is not a commit in the history of {self.root} "
                "(see `atlas-ha history`)"
            )
        return done.stdout.strip()

    def diff(self, rev_a: str, rev_b: str | None, paths: list[str]) -> str:
        """`git diff` text from `rev_a` to `rev_b` (None: the current work tree) of `paths`
        (relative to SID_DATA; empty: everything). Bytes that are not UTF-8 (in names or
        content) are kept as surrogate escapes (atlas_ha.text): the CLI shows them as \\xNN."""
        revs = [self.verify(rev_a)] + ([self.verify(rev_b)] if rev_b is not None else [])
        guard = self.lock() if rev_b is None else contextlib.nullcontext()
        with self._scratch() as tmp, guard:
            out = tmp / "diff"
            self.git("diff", "--no-color", "--no-ext-diff", f"--output={out}", *revs, "--", *paths)
            return out.read_bytes().decode("utf-8", NAMES)

    def show(self, rev: str, relpath: str) -> bytes:
        """The content of file `relpath` (relative to SID_DATA) at `rev`; of a symlink, its
        target."""
        commit = self.verify(rev)
        relpath = relpath.strip("/")
        if self.git("cat-file", "-e", f"{commit}:{relpath}", check=False).returncode != 0:
            raise HistoryError(f"{relpath} does not exist at revision {rev!r}")
        members = self._export(commit, [relpath])
        if relpath not in members:
            raise HistoryError(f"{relpath} is not a file at revision {rev!r}")
        return members[relpath]

    def restore_paths(self, rev: str, relpaths: list[str]) -> None:
        """Make the work tree under `relpaths` (relative to SID_DATA) what it was at `rev`:
        files and symlinks from `rev`, tracked files that `rev` lacks removed.

        Only content: git keeps no owner or mode (the Manifest does; see `restore_path`). The
        index is left alone, the next `record` stages the result.
        """
        commit = self.verify(rev)
        if not relpaths:
            return
        with self.lock():
            self.clear_stale_locks()
            self._neutralise()
            done = self.git(
                "restore", f"--source={commit}", "--worktree", "--", *relpaths, check=False
            )
        if done.returncode != 0:
            raise HistoryError(
                f"cannot restore {', '.join(relpaths)} to revision {rev!r}: {_message(done)}"
            )

    def _export(self, commit: str, relpaths: list[str]) -> dict[str, bytes]:
        """Files (content) and symlinks (target) under `relpaths` at `commit`, by relpath."""
        import tarfile

        with self._scratch() as tmp:
            archive = tmp / "export.tar"
            self.git("archive", "--format=tar", f"--output={archive}", commit, "--", *relpaths)
            result: dict[str, bytes] = {}
            with tarfile.open(archive) as tar:
                for member in tar:
                    if member.issym():
                        result[member.name] = os.fsencode(member.linkname)
                    elif (handle := tar.extractfile(member)) is not None:
                        result[member.name] = handle.read()
            return result

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[Path]:
        """A private temporary directory in SID_DATA/.staging (never recorded, mode 0700),
        named for this process; those of processes no longer alive are removed first."""
        import shutil
        import tempfile

        staging = self.root / ".staging"
        staging.mkdir(mode=0o700, exist_ok=True)
        for left in staging.glob("history-*"):
            pid = left.name.split("-")[1]
            if pid.isdigit() and not alive(int(pid)):
                shutil.rmtree(left, ignore_errors=True)
        prefix = f"history-{os.getpid()}-"
        with tempfile.TemporaryDirectory(prefix=prefix, dir=staging) as tmp:
            yield Path(tmp)
