"""Per-service converters (aspects) composed into Env<N> up/down.

Each aspect owns one kind of file whose format differs between environments (identity,
accounts, nginx sites, PostgreSQL's configuration). Converting a snapshot from EnvA to EnvB
runs, for each aspect whose format differs, that aspect alone on the staged transaction;
everything else is copied unchanged. A failure in one aspect names its file and never touches
another aspect's files.

An aspect is a plugin (`plugins.ASPECTS`): one module (here, or in a site's own package)
defining an `Aspect`, and one entry point naming it. Its name is the key in envs.toml
(`[env.N] <name> = "<format>"`); an `optional` aspect may be absent from an environment,
whose files of that kind are then left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from atlas_ha import plugins
from atlas_ha.converters.transaction import ConversionTx
from atlas_ha.errors import PluginError


@dataclass(frozen=True)
class Aspect:
    name: str
    tree: str
    formats: tuple[str, ...]
    paths: Callable[[str, str], tuple[str, ...]]  # (format, device) -> system paths
    convert: Callable[[ConversionTx, str, str, str], None]  # (tx, src fmt, dst fmt, device)
    optional: bool = False  # an environment may lack it (its files are then left alone)
    # (format, path, a, b) -> whether two contents of one of its files mean the same (Compare)
    same_meaning: Callable[[str, str, bytes, bytes], bool] | None = None


def same_meaning_of(formats: dict[str, str]) -> Callable[[str, bytes, bytes], bool]:
    """(path, a, b) -> whether the aspects of an environment with ``formats`` read two
    contents of ``path`` as the same; byte equality for every file no aspect normalises."""
    found = aspects()
    judges = [
        (fmt, aspect.same_meaning)
        for name, fmt in formats.items()
        if (aspect := found.get(name)) is not None and aspect.same_meaning is not None
    ]

    def same(path: str, a: bytes, b: bytes) -> bool:
        return a == b or any(judge(fmt, path, a, b) for fmt, judge in judges)

    return same


def aspects() -> dict[str, Aspect]:
    """Every installed aspect, by name (`plugins.ASPECTS`)."""
    found: dict[str, Aspect] = {}
    for name in plugins.names(plugins.ASPECTS):
        aspect = plugins.load(plugins.ASPECTS, name)
        if not isinstance(aspect, Aspect) or aspect.name != name:
            raise PluginError(f"{plugins.ASPECTS}: {name!r} is not an Aspect named {name!r}")
        found[name] = aspect
    return found


def files(tx: ConversionTx, tree: str, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The regular files among `wanted` in the transaction's `tree`, with their content."""
    return {p: tx.read(tree, p) for p in wanted if (e := tx.entry(tree, p)) and e.type == "file"}


def restage(tx: ConversionTx, tree: str, old: tuple[str, ...], new: dict[str, bytes]) -> None:
    """Replace the files `old` by `new`, metadata from the first old file (mtime: newest)."""
    olds = [e for p in old if (e := tx.entry(tree, p)) and e.type == "file"]
    like = replace(olds[0], mtime_ns=max(e.mtime_ns for e in olds))
    for p in old:
        tx.remove(tree, p)
    for p, content in new.items():
        tx.write(tree, p, content, like)
