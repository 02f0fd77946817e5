"""The CLI's top-level handler (cli/main.py): every AtlasError exits with its class's code
(each row of errors.py's table) and every OSError with EXIT_SYSTEM, printing one line
`atlas-ha: error: ...` and no traceback; the result codes are the named constants."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.test_errors import table

from atlas_ha import errors
from atlas_ha.cli.main import main
from atlas_ha.daemon import systemd


def raising(exc: BaseException) -> object:
    def unit_files(*_args: object) -> dict[str, str]:
        raise exc

    return unit_files


def instance(name: str) -> errors.AtlasError:
    cls = getattr(errors, name)
    if issubclass(cls, errors.FormatError):
        return cls("/srv/esd/EnvID", 2, "a positive EnvVersion, got 'x'")  # type: ignore[no-any-return]
    return cls(f"{name} happened: what and where")  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "code"), [(name, code) for _c, name, code in table()])
def test_each_atlas_error_exits_with_its_code_and_one_line(
    name: str, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exc = instance(name)
    monkeypatch.setattr(systemd, "unit_files", raising(exc))
    assert main(["daemon", "units"]) == code
    captured = capsys.readouterr()
    assert captured.err == f"atlas-ha: error: {exc}\n" and captured.out == ""


def test_an_os_error_exits_14_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exc = PermissionError(13, "Permission denied", "/srv/esd/daemon.pid")
    monkeypatch.setattr(systemd, "unit_files", raising(exc))
    assert main(["daemon", "units"]) == errors.EXIT_SYSTEM == 14
    assert capsys.readouterr().err == "atlas-ha: error: /srv/esd/daemon.pid: Permission denied\n"


@pytest.mark.parametrize(
    ("exc", "code"),
    [(BrokenPipeError(32, "Broken pipe"), 141), (KeyboardInterrupt(), 130)],
)
def test_a_gone_reader_and_an_interrupt_exit_quietly(
    exc: BaseException,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(systemd, "unit_files", raising(exc))
    assert main(["daemon", "units"]) == code
    assert capsys.readouterr().err == ""
    assert (errors.EXIT_BROKEN_PIPE, errors.EXIT_INTERRUPTED) == (141, 130)


def atlas(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", *argv], capture_output=True, text=True, timeout=60
    )


def test_real_errors_through_the_program_print_one_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    missing = atlas("--config", str(tmp_path / "none.toml"), "status")
    assert missing.returncode == errors.SettingsError.exit_code
    assert missing.stderr.startswith(f"atlas-ha: error: {tmp_path / 'none.toml'}: no settings")
    assert len(missing.stderr.splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    malformed = atlas("--config", str(bad), "status")
    assert malformed.returncode == errors.SettingsError.exit_code
    assert (
        malformed.stderr.startswith(f"atlas-ha: error: {bad}")
        and "Traceback" not in malformed.stderr
    )
    unwritable = atlas("daemon", "units", "--write", "/proc/atlas-ha-no-such-dir")
    assert unwritable.returncode == errors.EXIT_SYSTEM
    assert (
        unwritable.stderr
        == "atlas-ha: error: /proc/atlas-ha-no-such-dir: No such file or directory\n"
    )


def test_a_bad_role_argument_is_a_usage_error_not_a_traceback() -> None:
    done = atlas("--config", "/nonexistent.toml", "sync", "convert-newer", "--role", "bogus")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        "argument --role: a role PRI or SEC<n>, got 'bogus'"
    )
