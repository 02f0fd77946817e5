"""Every on-disk name of the layout has one owner in layout/ (issue 10 item 5): no other
module spells these names (docstrings aside), so a name changes in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import atlas_ha

ROOT = Path(atlas_ha.__file__).parent
OWNED = (
    ".results",
    ".locks",
    ".staging",
    ".ssh",
    "daemon.json",
    "daemon.pid",
    "last-cycle.json",
    "suspended.json",
    "cycle-request.json",
    "mass-deletion-allowed.json",
    "owed-reloads.json",
    "validation.json",
    "CurrentRole",
    "VerifierResults.sqlite",
    "Rollups.sqlite",
    "Report",
    "SnapshotEnvVersion",
    "MasterConfig",
    "EnvID",
    "envs.toml",
    "PolicyFlagged.json",
    "authorized_keys",
    "known_hosts",
)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _joined(tree: ast.AST) -> set[int]:
    """The string constants that are an operand of `/` (a path built with pathlib)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant):
                    found.add(id(side))
    return found


def spelled_outside_layout() -> list[str]:
    """Places outside layout/ that build a path of the layout by name: `x / "NAME"`, or a
    string holding ".../NAME" (prose for people, and docstrings, may name the files)."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "layout":
            continue
        tree = ast.parse(path.read_text())
        docs, joined = _docstrings(tree), _joined(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if id(node) in docs or any(c.isspace() for c in text):
                continue
            for name in OWNED:
                built = id(node) in joined and (text == name or text.startswith(name + "/"))
                if built or f"/{name}" in text:
                    found.append(f"{rel}:{node.lineno}: {text!r}")
    return found


def test_only_layout_spells_the_layouts_names() -> None:
    assert spelled_outside_layout() == []
