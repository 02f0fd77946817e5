"""Wheels of this tree for the side-by-side version tests and benchmark: built with `uv build`
from a patched copy (another version, another protocol version, a deliberate fault).
Building may fetch the build backend (hatchling) from the package index; installing them
(`atlas-ha version install`) never touches the network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def uv_program() -> Path:
    found = shutil.which("uv")
    return Path(found) if found else ROOT / ".ci" / ".uv" / "bin" / "uv"


def build_wheel(
    out: Path,
    version: str,
    protocol: int | None = None,
    patches: dict[str, tuple[str, str]] | None = None,
    dependencies: list[str] | None = None,
) -> Path:
    """A wheel of this tree as `version` (optionally speaking `protocol`, with `patches`:
    file under src/atlas_ha -> (old text, new text), and extra `dependencies`), in `out`."""
    tree = out / f"tree-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "README.md", tree / "README.md")
    project = (ROOT / "pyproject.toml").read_text()
    project = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', project, count=1)
    if dependencies:
        project = project.replace(
            "dependencies = [\n",
            "dependencies = [\n" + "".join(f'    "{d}",\n' for d in dependencies),
            1,
        )
    (tree / "pyproject.toml").write_text(project)
    edits = dict(patches or {})
    init = (tree / "src" / "atlas_ha" / "__init__.py").read_text()
    current = re.search(r'__version__ = "[^"]*"', init)
    assert current, "src/atlas_ha/__init__.py: no __version__"
    edits["__init__.py"] = (current.group(0), f'__version__ = "{version}"')
    if protocol is not None:
        edits["transport/protocol.py"] = ("PROTOCOL_VERSION = 3", f"PROTOCOL_VERSION = {protocol}")
    for rel, (old, new) in edits.items():
        path = tree / "src" / "atlas_ha" / rel
        text = path.read_text()
        assert old in text, f"{rel}: {old!r} not found (the tree changed: update the patch)"
        path.write_text(text.replace(old, new, 1))
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(uv_program()), "build", "--wheel", "--out-dir", str(out), "-q", str(tree)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    shutil.rmtree(tree)
    wheels = list(out.glob(f"atlas_ha-{version}-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]
