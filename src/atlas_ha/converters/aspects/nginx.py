"""The nginx aspect: sites in conf.d/ or sites-enabled/."""

from __future__ import annotations

from atlas_ha.converters import nginx
from atlas_ha.converters.aspects import Aspect
from atlas_ha.converters.transaction import ConversionTx


def convert_nginx(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    top = nginx.site_dir(src)
    for entry in tx.under("SyncFiles", top):
        if entry.path == top:
            continue
        tx.rename("SyncFiles", entry.path, nginx.rename(src, dst, entry.path))
    if tx.entry("SyncFiles", top):
        tx.rename("SyncFiles", top, nginx.site_dir(dst))
    tx.replace_listed(nginx.paths(src), nginx.paths(dst))


ASPECT = Aspect(
    "nginx", "SyncFiles", nginx.FORMATS, lambda fmt, _dev: nginx.paths(fmt), convert_nginx
)
