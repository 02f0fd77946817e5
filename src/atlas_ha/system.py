"""Side effects the logic needs, as objects passed in: running programs and the clock."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import AtlasError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Runs programs; every call has a timeout; failures to start, a timeout and output that
    does not decode become AtlasError (the one boundary of the subprocess family)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300.0,
        check: bool = True,
        errors: str = "strict",
    ) -> Completed:
        """`errors`: how undecodable output is decoded ("surrogateescape": as os.fsdecode
        does, for output naming files)."""
        try:
            proc = subprocess.run(
                list(argv),
                input=input_text,
                capture_output=True,
                text=True,
                errors=errors,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise AtlasError(f"{argv[0]}: program not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise AtlasError(f"{' '.join(argv)}: no answer within {timeout:.0f} s") from exc
        except UnicodeDecodeError as exc:  # a program's output, often from the network
            raise AtlasError(
                f"{argv[0]}: its output is not UTF-8 (byte {exc.object[exc.start]:#04x} "
                f"at {exc.start})"
            ) from exc
        except OSError as exc:  # not executable, not a program (ENOEXEC), out of processes
            raise AtlasError(f"{argv[0]}: cannot run: {exc.strerror or exc}") from exc
        done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise AtlasError(f"{' '.join(argv)}: exit {proc.returncode}: {' / '.join(tail)}")
        return done


class Clock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def console_script() -> Path:
    """The installed `atlas-ha` program: the console script beside this Python (a venv's
    bin/, or /usr/bin for a system install), else the one on PATH, else that same path."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "atlas-ha"
    if beside.exists():
        return beside
    found = shutil.which("atlas-ha")
    return Path(found) if found else beside
