"""The accounts aspect: /etc/passwd with hashes, or /etc/passwd + /etc/shadow."""

from __future__ import annotations

from dataclasses import replace

from atlas_ha.converters import accounts
from atlas_ha.converters.aspects import Aspect, files
from atlas_ha.converters.transaction import ConversionTx


def convert_accounts(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    old = accounts.paths(src)
    present = files(tx, "SyncFiles", old)
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


ASPECT = Aspect(
    "accounts",
    "SyncFiles",
    accounts.FORMATS,
    lambda fmt, _dev: accounts.paths(fmt),
    convert_accounts,
    same_meaning=lambda fmt, path, a, b: (
        fmt == accounts.SHADOW_FORMAT and accounts.same_meaning(path, a, b)
    ),
)
