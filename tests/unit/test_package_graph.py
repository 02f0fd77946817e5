"""The package graph of src/atlas_ha is one-way (docs/architecture.md): every import, at module
level or inside a function, points to a lower layer; no package-level cycle; no import made
inside a function to dodge one. Imports under `if TYPE_CHECKING:` are types only and do not
count. Upward calls go through hook events (hooks.py) and plugins (plugins.py)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import atlas_ha

ROOT = Path(atlas_ha.__file__).parent
# bottom up; a package may import only from layers below its own
LAYERS = [
    {"", "errors"},
    {"text", "model", "system", "faults", "plugins"},
    {"layout"},
    {"settings"},
    {"context"},
    {"hooks"},
    {"ops"},
    {"versions"},
    {"converters", "transport", "raid"},
    {"sync"},
    {"verifier"},
    {"doctor"},
    {"report"},
    {"daemon"},
    {"lab"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
RANK = {package: n for n, layer in enumerate(LAYERS) for package in layer}


def package_of(module: str) -> str:
    """`atlas_ha.sync.create` -> "sync"; `atlas_ha` (or a name imported from it) -> ""."""
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    return parts[1] if (ROOT / parts[1]).is_dir() or (ROOT / f"{parts[1]}.py").exists() else ""


def imports() -> list[tuple[str, str, int, bool]]:
    """(importing file, imported module, line, inside a function) of every atlas_ha import."""
    found: list[tuple[str, str, int, bool]] = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = str(path.relative_to(ROOT.parent))

        def visit(node: ast.AST, in_function: bool, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue  # types only
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                targets: list[str] = []
                if isinstance(child, ast.ImportFrom) and (child.module or "").startswith(
                    "atlas_ha"
                ):
                    module = child.module or ""
                    targets = (
                        [f"atlas_ha.{a.name}" for a in child.names]
                        if module == "atlas_ha"
                        else [module]
                    )
                elif isinstance(child, ast.Import):
                    targets = [a.name for a in child.names if a.name.startswith("atlas_ha")]
                for target in targets:
                    found.append((rel, target, child.lineno, inner))
                visit(child, inner)

        visit(ast.parse(path.read_text()), False)
    return found


def _package(rel: str) -> str:
    parts = Path(rel).with_suffix("").parts  # ("atlas_ha", "sync", "create")
    return package_of(".".join(parts)) if len(parts) > 1 else ""


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages - RANK.keys() == set(), "place each new package in LAYERS (and the docs)"


def test_every_import_points_down() -> None:
    upward = []
    for rel, target, line, in_function in imports():
        source, dest = _package(rel), package_of(target)
        if source != dest and RANK[dest] >= RANK[source]:
            where = "inside a function" if in_function else "at module level"
            upward.append(f"{rel}:{line} imports {target} ({source} -> {dest}, {where})")
    assert upward == []


def test_no_package_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for rel, target, _line, _inner in imports():
        source, dest = _package(rel), package_of(target)
        if source != dest:
            edges[source].add(dest)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert [p for p in edges if p in reach(p)] == []


def test_the_synchronizer_never_imports_the_verifier() -> None:
    """Hook events carry SetUp and the after-install work (SPEC 5.13)."""
    low = {"sync", "transport", "converters", "layout", "context", "hooks"}
    found = [
        f"{rel}:{line}"
        for rel, target, line, _ in imports()
        if _package(rel) in low and package_of(target) in {"verifier", "daemon", "cli", "lab"}
    ]
    assert found == []
