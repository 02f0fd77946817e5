"""The accounts aspect: /etc/passwd with hashes, or /etc/passwd + /etc/shadow."""

from __future__ import annotations

from dataclasses import replace

from atlas_ha.converters import accounts
from atlas_ha.converters.aspects import Aspect, files
from atlas_ha.converters.transaction import ConversionTx
from atlas_ha.layout.manifest import Entry


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
            like = tx.entry("SyncFiles", p) or created_like(passwd, p, converted)
            tx.write("SyncFiles", p, content, like)
    tx.replace_listed(old, accounts.paths(dst))


def created_like(passwd: Entry, path: str, converted: dict[str, bytes]) -> Entry:
    """The owner and mode of an account file the conversion creates (/etc/shadow, going to
    the shadow format): root, mode 0640, and the group `shadow` when the snapshot's
    /etc/group has one (Debian's root:shadow), else root's: what the target's own
    installation gives it, so the round trip Env2 -> Env1 -> Env2 keeps its meaning."""
    gid = passwd.gid
    if path == accounts.SHADOW:
        found = accounts.group_id(converted.get(accounts.GROUP, b""), b"shadow")
        gid = found if found is not None else passwd.gid
    return replace(passwd, mode=0o640, gid=gid)


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
