"""Per-service converters (aspects) composed into Env<N> up/down.

Each aspect owns one kind of file whose format differs between environments (identity,
accounts, nginx sites). Converting a snapshot from EnvA to EnvB runs, for each aspect whose
format differs, that aspect alone on the staged transaction; everything else is copied
unchanged. A failure in one aspect names its file and never touches another aspect's files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from atlas_ha.converters import accounts, identity, nginx, postgresql
from atlas_ha.converters.transaction import ConversionTx
from atlas_ha.errors import ConversionError


@dataclass(frozen=True)
class Aspect:
    name: str
    tree: str
    formats: tuple[str, ...]
    paths: Callable[[str, str], tuple[str, ...]]  # (format, device) -> system paths
    convert: Callable[[ConversionTx, str, str, str], None]  # (tx, src fmt, dst fmt, device)


def _files(tx: ConversionTx, tree: str, wanted: tuple[str, ...]) -> dict[str, bytes]:
    return {p: tx.read(tree, p) for p in wanted if (e := tx.entry(tree, p)) and e.type == "file"}


def _restage(tx: ConversionTx, tree: str, old: tuple[str, ...], new: dict[str, bytes]) -> None:
    """Replace the files `old` by `new`, metadata from the first old file (mtime: newest)."""
    olds = [e for p in old if (e := tx.entry(tree, p)) and e.type == "file"]
    like = replace(olds[0], mtime_ns=max(e.mtime_ns for e in olds))
    for p in old:
        tx.remove(tree, p)
    for p, content in new.items():
        tx.write(tree, p, content, like)


def convert_identity(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    old = identity.paths(src, device)
    present = _files(tx, "IdentFiles", old)
    if present:  # a snapshot without identity (a new group) has nothing to convert
        missing = [p for p in old if p not in present]
        if missing:
            raise ConversionError(missing[0], None, f"the identity file of format {src}")
        _restage(tx, "IdentFiles", old, identity.convert(src, dst, present))
    tx.replace_listed(old, identity.paths(dst, device))


def convert_accounts(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    old = accounts.paths(src)
    present = _files(tx, "SyncFiles", old)
    if "/etc/passwd" in present:
        converted = accounts.convert(src, dst, present)
        passwd = tx.entry("SyncFiles", "/etc/passwd")
        assert passwd is not None
        for p in old:
            if p not in converted:
                tx.remove("SyncFiles", p)
        for p, content in converted.items():
            like = tx.entry("SyncFiles", p) or replace(passwd, mode=0o640)
            tx.write("SyncFiles", p, content, like)
    tx.replace_listed(old, accounts.paths(dst))


def convert_nginx(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    top = nginx.site_dir(src)
    for entry in tx.under("SyncFiles", top):
        if entry.path == top:
            continue
        tx.rename("SyncFiles", entry.path, nginx.rename(src, dst, entry.path))
    if tx.entry("SyncFiles", top):
        tx.rename("SyncFiles", top, nginx.site_dir(dst))
    tx.replace_listed(nginx.paths(src), nginx.paths(dst))


def convert_postgresql(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    top = postgresql.conf_dir(src)
    for entry in tx.under("SyncFiles", top):
        if entry.path == top:
            continue
        new = postgresql.rename(src, dst, entry.path)
        if entry.type == "file" and entry.path.endswith("/postgresql.conf"):
            content = postgresql.convert_conf(src, dst, tx.read("SyncFiles", entry.path), new)
            tx.remove("SyncFiles", entry.path)
            tx.write("SyncFiles", new, content, entry)
        else:
            tx.rename("SyncFiles", entry.path, new)
    tx.replace_listed(postgresql.paths(src), postgresql.paths(dst))


ASPECTS: dict[str, Aspect] = {
    "identity": Aspect(
        "identity", "IdentFiles", identity.FORMATS, identity.paths, convert_identity
    ),
    "accounts": Aspect(
        "accounts",
        "SyncFiles",
        accounts.FORMATS,
        lambda fmt, _dev: accounts.paths(fmt),
        convert_accounts,
    ),
    "nginx": Aspect(
        "nginx", "SyncFiles", nginx.FORMATS, lambda fmt, _dev: nginx.paths(fmt), convert_nginx
    ),
    "postgresql": Aspect(
        "postgresql",
        "SyncFiles",
        postgresql.FORMATS,
        lambda fmt, _dev: postgresql.paths(fmt),
        convert_postgresql,
    ),
}
