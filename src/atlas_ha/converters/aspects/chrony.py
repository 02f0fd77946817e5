"""The chrony aspect: /etc/chrony/chrony.conf (+ conf.d/, sources.d/) or /etc/chrony.conf
(optional: an environment without chrony leaves those files alone)."""

from __future__ import annotations

from atlas_ha.converters import chrony
from atlas_ha.converters.aspects import Aspect
from atlas_ha.converters.transaction import ConversionTx


def convert_chrony(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    main, target = chrony.conf_path(src), chrony.conf_path(dst)
    for top in chrony.paths(src):
        if top == main:
            continue
        for entry in tx.under("SyncFiles", top):  # Debian's directories, going to RHEL
            if entry.type not in ("dir", "absent"):
                raise chrony.no_place(src, entry.path)
            tx.remove("SyncFiles", entry.path)
    conf = tx.entry("SyncFiles", main)
    if conf is not None and conf.type == "file":
        content = chrony.convert_conf(src, dst, tx.read("SyncFiles", main))
        tx.remove("SyncFiles", main)
        tx.write("SyncFiles", target, content, conf)
    elif conf is not None:
        tx.rename("SyncFiles", main, target)
    for path in chrony.paths(dst)[1:]:  # Debian's directories, as its package ships them
        if conf is not None and conf.type != "absent" and tx.entry("SyncFiles", path) is None:
            tx.mkdir("SyncFiles", path, conf)
        elif conf is not None and conf.type == "absent":
            # no chrony here: the directories are listed and absent, as a Debian Create
            # without chrony records them (else Compare finds them "only on PRI")
            tx.absent("SyncFiles", path, conf)
    tx.replace_listed(chrony.paths(src), chrony.paths(dst))


ASPECT = Aspect(
    "chrony",
    "SyncFiles",
    chrony.FORMATS,
    lambda fmt, _dev: chrony.paths(fmt),
    convert_chrony,
    optional=True,
    same_meaning=lambda fmt, path, a, b: (
        fmt == chrony.DEBIAN and path == chrony.DEBIAN_CONF and chrony.same_meaning(a, b)
    ),
)
