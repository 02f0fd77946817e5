"""The PostgreSQL aspect: the server configuration in PGDATA or /etc/postgresql (optional:
an environment without PostgreSQL leaves those files alone)."""

from __future__ import annotations

from atlas_ha.converters import postgresql
from atlas_ha.converters.aspects import Aspect
from atlas_ha.converters.transaction import ConversionTx


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


ASPECT = Aspect(
    "postgresql",
    "SyncFiles",
    postgresql.FORMATS,
    lambda fmt, _dev: postgresql.paths(fmt),
    convert_postgresql,
    optional=True,
)
