"""The exception tree is whole (errors.py): every class atlas-ha raises on purpose lives in
errors.py with its own exit code, listed in its docstring's table; the few wire-format parse
errors outside it are internal to the Verifier; every broad `except` says why beside it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import atlas_ha
from atlas_ha import errors
from atlas_ha.errors import AtlasError

ROOT = Path(atlas_ha.__file__).parent
# parse errors of wire formats, internal to the verifier kinds that read them (each kind
# turns them into a CRITICAL or UNKNOWN profile: tests/verifier/test_verifier_wire_errors.py)
INTERNAL = {
    "atlas_ha.verifier.kinds.http.RecordError",
    "atlas_ha.verifier.kinds.dnswire.DnsFormatError",
    "atlas_ha.verifier.kinds.nagios_output.PerfdataError",
    "atlas_ha.verifier.kinds.httpwire.HttpError",
    "atlas_ha.verifier.kinds.ntpwire.NtpFormatError",
    # a wire field check's verdict, always turned into the record's refusal naming the field
    "atlas_ha.transport.wirefields.Malformed",
}
# a row of the tree: box-drawing prefix, the class name, its exit code
ROW_RE = re.compile(r"^    ([ │├└─]*)([A-Z][A-Za-z]+)\s+(\d+)(  |$)")
CONSTANT_RE = re.compile(r"^    (EXIT_[A-Z_]+)\s+(\d+)(  |$)")


def all_modules() -> list[str]:
    names = ["atlas_ha"]
    for info in pkgutil.walk_packages([str(ROOT)], "atlas_ha."):
        if info.name != "atlas_ha.__main__":  # importing it runs the CLI
            names.append(info.name)
    return names


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in src/atlas_ha (module.name -> class)."""
    found: dict[str, type[BaseException]] = {}
    for name in all_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found[f"{name}.{value.__qualname__}"] = value
    return found


def table() -> list[tuple[int, str, int]]:
    """(column, class name, exit code) of each row of errors.py's exception tree."""
    rows = []
    for line in (errors.__doc__ or "").splitlines():
        match = ROW_RE.match(line)
        if match:
            rows.append((len(match.group(1)), match.group(2), int(match.group(3))))
    return rows


def test_every_exception_class_is_in_errors_py_or_internal_to_the_verifier() -> None:
    classes = exception_classes()
    outside = {
        name
        for name, cls in classes.items()
        if cls.__module__ != "atlas_ha.errors" and name not in INTERNAL
    }
    assert not outside, f"exception classes outside errors.py: {sorted(outside)}"
    for name in INTERNAL:
        assert not issubclass(classes[name], AtlasError), name
    # an AST look as well: a class defined inside a function is not a module attribute
    for path in ROOT.rglob("*.py"):
        if path.name == "errors.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                assert not bases & {c.__name__ for c in atlas_classes()}, (path, node.name)


def atlas_classes() -> list[type[AtlasError]]:
    seen: list[type[AtlasError]] = []
    todo: list[type[AtlasError]] = [AtlasError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    exception_classes()  # every module imported: every subclass known
    return seen


def test_every_atlas_error_has_its_own_exit_code() -> None:
    classes = atlas_classes()
    for cls in classes:
        assert "exit_code" in vars(cls), f"{cls.__name__} inherits its exit code"
        assert cls.__module__ == "atlas_ha.errors", cls
    codes = [cls.exit_code for cls in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    results = {
        errors.EXIT_SYSTEM,
        errors.EXIT_DIFFERENCES,
        errors.EXIT_VERIFY_WARNING,
        errors.EXIT_VERIFY_CRITICAL,
        errors.EXIT_VERIFY_UNKNOWN,
        errors.EXIT_INTERRUPTED,
        errors.EXIT_BROKEN_PIPE,
        errors.EXIT_DOCTOR,
    }
    assert not set(codes) & results  # an exit code says whether it was an error
    assert all(0 < code < 126 for code in codes)  # 126+ are the shell's


def test_the_docstring_table_is_the_tree() -> None:
    rows = table()
    by_name = {cls.__name__: cls for cls in atlas_classes()}
    assert sorted(name for _c, name, _x in rows) == sorted(by_name)
    stack: list[tuple[int, str]] = []
    for column, name, code in rows:
        assert by_name[name].exit_code == code, name
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:  # the row above it with a smaller indent is its base class
            assert by_name[name].__bases__ == (by_name[stack[-1][1]],), name
        else:
            assert by_name[name] is AtlasError
        stack.append((column, name))


def test_the_docstring_lists_every_exit_constant() -> None:
    documented = {}
    for line in (errors.__doc__ or "").splitlines():
        match = CONSTANT_RE.match(line)
        if match:
            documented[match.group(1)] = int(match.group(2))
    constants = {
        k: v for k, v in vars(errors).items() if k.startswith("EXIT_") and k != "EXIT_VERIFY_BASE"
    }
    assert documented == constants


def broad_handlers() -> list[tuple[str, int, str]]:
    """(file, line, source line) of every `except:`, `except Exception` or `except
    BaseException` (alone or in a tuple) in src/atlas_ha that neither re-raises nor says why."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ExceptHandler):
                continue
            names = (
                {"BaseException"}
                if node.type is None
                else {ast.unparse(e) for e in getattr(node.type, "elts", [node.type])}
            )
            if not names & {"Exception", "BaseException"}:
                continue
            reraises = isinstance(node.body[-1], ast.Raise) and node.body[-1].exc is None
            line = lines[node.lineno - 1]
            if not reraises and "#" not in line:
                found.append((str(path.relative_to(ROOT)), node.lineno, line.strip()))
    return found


def test_every_broad_except_says_why_beside_it_or_reraises() -> None:
    assert broad_handlers() == []
