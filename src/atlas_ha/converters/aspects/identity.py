"""The identity aspect: IdentFiles in the environment's network-configuration format."""

from __future__ import annotations

from dataclasses import replace

from atlas_ha.converters import identity
from atlas_ha.converters.aspects import Aspect, files, restage
from atlas_ha.converters.transaction import ConversionTx
from atlas_ha.errors import ConversionError

PRIVATE_MODE = 0o600


def convert_identity(tx: ConversionTx, src: str, dst: str, device: str) -> None:
    old = identity.paths(src, device)
    present = files(tx, "IdentFiles", old)
    if present:  # a snapshot without identity (a new group) has nothing to convert
        missing = [p for p in old if p not in present]
        if missing:
            raise ConversionError(missing[0], None, f"the identity file of format {src}")
        new = identity.convert(src, dst, present)
        restage(tx, "IdentFiles", old, new)
        for path in identity.private_paths(dst, device):  # NetworkManager's keyfile: 0600
            entry = tx.entry("IdentFiles", path)
            if entry is not None:
                tx.write("IdentFiles", path, new[path], replace(entry, mode=PRIVATE_MODE))
    tx.replace_listed(old, identity.paths(dst, device))


ASPECT = Aspect("identity", "IdentFiles", identity.FORMATS, identity.paths, convert_identity)
