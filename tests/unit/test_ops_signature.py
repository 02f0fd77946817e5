"""Crash signatures (ops/signature.py): the same fault gives one signature wherever the code
is installed, whichever version directory holds it and however its lines moved; another
exception type, another chain, another function give another."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from atlas_ha.ops.signature import Crash, clean_message, module_of_path, of_core, of_exception

FAULTY = textwrap.dedent(
    """
    def parse(text):
        return int(text)


    def load(path, kind=ValueError):
        try:
            return parse(path)
        except ValueError as exc:
            raise kind(f"bad setting in {path} at 0x7f00deadbeef (pid 48213)") from exc
    """
)


def install(base: Path, version: str, shift: int, site: bool = True) -> ModuleType:
    """The module sentrypkg.fault installed under base/<version>/lib/python3/site-packages
    (or, not `site`, base/<version>/), with `shift` blank lines more at its top (every line
    number moves), imported."""
    name = "sentrypkg.fault"
    top = base / version / "lib" / "python3" / "site-packages" if site else base / version
    where = top / "sentrypkg" / "fault.py"
    where.parent.mkdir(parents=True)
    where.write_text("# installed copy\n" + "\n" * shift + FAULTY)
    spec = importlib.util.spec_from_file_location(name, where)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def crash_of(module: ModuleType, path: str, kind: type[Exception] = ValueError) -> Crash:
    with pytest.raises(Exception) as caught:
        module.load(path, kind)
    return of_exception(caught.value)


def test_the_same_fault_from_two_install_paths_and_versions_is_one_signature(
    tmp_path: Path,
) -> None:
    old = install(tmp_path / "a" / "opt" / "atlas-ha" / "bin", "0.1.0", shift=0)
    new = install(tmp_path / "b" / "srv" / "atlas-ha", "0.2.0-test", shift=7, site=False)
    one = crash_of(old, "/tmp/pytest-1/x.conf")
    two = crash_of(new, "/var/tmp/other-99/y.conf")
    assert one.raw != two.raw  # the raw tracebacks differ: paths, line numbers, messages
    assert str(tmp_path / "a") in one.raw and str(tmp_path / "b") in two.raw
    assert one.signature == two.signature
    assert one.cleaned == two.cleaned
    for machine_specific in ("line ", "/tmp", "0x7f", "0.1.0", "0.2.0", str(tmp_path)):
        assert machine_specific not in one.cleaned, machine_specific
    assert "sentrypkg.fault:load: raise kind(" in one.cleaned
    assert "exception ValueError" in one.cleaned and "which caused" in one.cleaned
    assert Crash.verify(one.signature, one.cleaned)


def test_another_exception_type_is_another_signature(tmp_path: Path) -> None:
    module = install(tmp_path, "0.1.0", shift=0)
    assert crash_of(module, "x", ValueError).signature != crash_of(module, "x", KeyError).signature


def test_another_function_is_another_signature(tmp_path: Path) -> None:
    module = install(tmp_path, "0.1.0", shift=0)
    with pytest.raises(ValueError) as direct:
        module.parse("x")
    assert of_exception(direct.value).signature != crash_of(module, "x").signature


def test_the_message_is_cleaned_and_not_hashed(tmp_path: Path) -> None:
    module = install(tmp_path, "0.1.0", shift=0)
    crash = crash_of(module, "/var/tmp/pt-9/some.conf")
    assert crash.title == "ValueError: bad setting in <path>/some.conf at 0x? (pid N)"
    assert clean_message("open /srv/x/0.2.0/a.db failed: 0xdeadbeef") == (
        "open <path>/a.db failed: 0x?"
    )


def test_module_names_from_paths_drop_install_directories() -> None:
    assert module_of_path("/opt/a/0.1.0/lib/atlas_ha/sync/cycle.py") == "atlas_ha.sync.cycle"
    assert module_of_path("/x/venv/lib/python3.11/site-packages/yaml/scan.py") == "yaml.scan"


def test_core_signature_keeps_functions_and_library_names_only() -> None:
    bt_a = "#0  0x00007f2a61b85ad8 in __memmove_avx (a=0x1) from /lib/x86_64-linux-gnu/libc.so.6"
    bt_b = "#0  0x00005555ffff0000 in __memmove_avx (a=0x9) from /usr/lib/libc.so.6"
    one, two = (
        of_core("/usr/bin/python3.11", "SIGSEGV", bt_a),
        of_core("python3.11", "SIGSEGV", bt_b),
    )
    assert one.signature == two.signature and "at __memmove_avx (libc.so.6)" in one.cleaned
    assert of_core("python3.11", "SIGABRT", bt_a).signature != one.signature


def _group(*members: Exception) -> ExceptionGroup[Exception]:
    try:
        raise ExceptionGroup("round failed", list(members))
    except ExceptionGroup as group:
        return group


def _raised(kind: type[Exception]) -> Exception:
    try:
        raise kind("member")
    except Exception as exc:
        return exc


def test_exception_group_members_are_part_of_the_signature() -> None:
    """A task group's failures: which members failed matters, not their order."""
    one = of_exception(_group(_raised(ValueError), _raised(KeyError)))
    other = of_exception(_group(_raised(ValueError), _raised(OSError)))
    assert one.signature != other.signature
    assert "    exception KeyError" in one.cleaned and "with 2 members" in one.cleaned
    again = of_exception(_group(_raised(KeyError), _raised(ValueError)))  # another order
    assert again.signature == one.signature
    nested = of_exception(_group(_group(_raised(ValueError)), _raised(KeyError)))
    assert nested.signature not in (one.signature, other.signature)
    assert "        exception ValueError" in nested.cleaned
