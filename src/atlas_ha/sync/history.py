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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import AtlasError, HistoryError
from atlas_ha.layout.atomic import locked
from atlas_ha.system import Completed, Runner

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass(frozen=True)
class Change:
    rev: str
    when: str
    subject: str
    operation: str
    role: str
    env: str
    server: str


class History:
    def __init__(self, root: Path, server: str, runner: Runner) -> None:
        self.root = root
        self.server = server
        self.runner = runner

    def git(self, *args: str, check: bool = True, input_text: str | None = None) -> Completed:
        env = {
            **os.environ,
            **GIT_ENV,
            "GIT_DIR": str(self.root / ".git"),
            "GIT_WORK_TREE": str(self.root),
            "HOME": str(self.root / ".git"),
        }
        try:
            return self.runner.run(
                ["git", *args], env=env, cwd=self.root, check=check, input_text=input_text
            )
        except AtlasError as exc:
            raise HistoryError(f"{self.root}: git history: {exc}") from exc

    def ensure(self) -> None:
        if (self.root / ".git" / "HEAD").exists():
            return
        self.git("init", "-q", "-b", "main")
        os.chmod(self.root / ".git", 0o700)
        self.git("config", "user.name", "atlas-ha")
        self.git("config", "user.email", "atlas-ha@localhost")
        self.git("config", "core.quotePath", "false")

    def record(self, operation: str, role: str, env: int | str, paths: list[str]) -> str | None:
        """Commit the current state of `paths` (relative to SID_DATA); None if nothing changed.

        Several processes record in one SID_DATA at once (the PRI receives from every SEC in
        parallel): git's index is shared, so every record holds the history lock.
        """
        with locked(self.root / ".locks" / "history"):
            return self._record(operation, role, env, paths)

    def _record(self, operation: str, role: str, env: int | str, paths: list[str]) -> str | None:
        self.ensure()
        self.git("add", "-A", "--", *paths)
        if self.git("diff", "--cached", "--quiet", "--", *paths, check=False).returncode == 0:
            return None
        message = (
            f"{operation} {role}/Env{env} on {self.server}\n\n"
            f"Atlas-Operation: {operation}\nAtlas-Role: {role}\n"
            f"Atlas-Env: {env}\nAtlas-Server: {self.server}\n"
        )
        self.git("commit", "-q", "--no-verify", "-F", "-", "--", *paths, input_text=message)
        return self.git("rev-parse", "HEAD").stdout.strip()

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
