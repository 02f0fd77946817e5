"""Delta send: a snapshot area whose Manifest changed travels as its changed objects only.

A steady state changes few files, but every area holding one has a new Manifest, and an
rsync per area lists every object on both sides (and, over ssh, is a session of its own).
For each area that receive-begin did not find current, the sender first offers its new
Manifest (`receive-delta`, zlib + base64). The receiver judges it by the receive policy
(layout.policy: a refused object ends the delta before anything is written; receive-commit
refuses the area whichever way it arrives), checks that the area it holds still
validates against its own Manifest, compares the two and answers the objects whose content
it lacks (`need`), or nothing (`full`: too much changed, an object changed its type, no
valid area to start from), and the sender then pushes that area with rsync as before. With
`need`, the sender sends exactly those files (`receive-objects`, base64); the receiver
checks each against the new Manifest's size and sha256 before writing anything, then
writes them, symlinks, directories and metadata through `layout.areawrite` (never through
a symlink), removes what the new Manifest no longer lists (and directories left holding
nothing listed) and writes that Manifest, then validates the area in full: if that fails,
the sender pushes the area with rsync, which repairs it. receive-commit validates as after
any push.

Only areas the current receive grant lists may be changed, and only for the requester's
own role. The shape of both requests and of the answer (`need`: [tree, path] pairs) is
checked by their records (`transport.protocol`); what they mean, here. A receiver from
before delta send answered "unknown operation": the sender then pushes with rsync, as for
any refusal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atlas_ha.errors import AtlasError, FormatError, ReceiveError, RefusedError, TransportError
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.areawrite import AreaWriter
from atlas_ha.layout.manifest import Entry, Manifest
from atlas_ha.sync.receive import judge, read_grant, validate_area
from atlas_ha.transport.protocol import ReceiveDelta, ReceiveObjects

if TYPE_CHECKING:
    from pathlib import Path

    from atlas_ha.context import Server
    from atlas_ha.layout.sid import Area
    from atlas_ha.transport.base import Connection

MAX_OBJECTS = 512  # more changed objects than this: rsync
MAX_BYTES = 8 << 20  # more changed bytes than this: rsync
MAX_MANIFEST = 256 << 20  # a Manifest inflating beyond this is refused


@dataclass
class Delta:
    """What a receiver expects after answering `need`."""

    env: int
    text: str
    new: Manifest
    need: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)  # dirs, links, metadata
    removed: list[tuple[str, str]] = field(default_factory=list)


# -- sender ------------------------------------------------------------------------------------
def send_area(conn: Connection, role: str, area: Area) -> bool:
    """Try to send `area` as a delta; False when the receiver wants it whole (rsync)."""
    env = area.ref.env
    text = area.manifest_file.read_bytes()
    try:
        answer = conn.request(ReceiveDelta(role=role, env=env, manifest=pack(text)))
    except TransportError:
        raise
    except AtlasError:  # a receiver without delta send, or one that refuses it: rsync
        return False
    if answer.need is None:  # `full`: too much changed, or nothing to start from
        return False
    manifest = area.manifest()
    objects = []
    for tree, path in answer.need:
        entry = manifest.get((tree, path))
        if entry is None or entry.type != "file":
            raise ReceiveError(
                f"{conn.role} at {conn.address}: asked for {[tree, path]!r}, not a file"
            )
        data = _copy_of(area, entry).read_bytes()
        objects.append((entry.tree, entry.path, base64.b64encode(data).decode()))
    try:
        conn.request(ReceiveObjects(role=role, env=env, objects=tuple(objects)))
    except TransportError:
        raise
    except AtlasError:  # e.g. an unexpected object on the receiver's side: rsync repairs
        return False
    return True


def _copy_of(area: Area, entry: Entry) -> Path:
    return (
        area.path / entry.path if entry.tree == "area" else area.copy_path(entry.tree, entry.path)
    )


def pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode()


def unpack(text: str, where: str) -> str:
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(text, validate=True), MAX_MANIFEST)
        if inflater.unconsumed_tail:
            raise ValueError(f"more than {MAX_MANIFEST} bytes")
        return data.decode()
    except (ValueError, binascii.Error, zlib.error, UnicodeDecodeError) as exc:
        raise ReceiveError(
            f"{where}: the offered Manifest is not zlib+base64 text ({exc})"
        ) from exc


# -- receiver ----------------------------------------------------------------------------------
def offer(server: Server, role: str, env: int, packed: str, peer: str) -> Delta | None:
    """The delta that would bring area (role, env) to the offered Manifest, or None (full)."""
    where = f"delta of {role}/Env{env} from {peer}"
    _check_granted(server, role, env, peer, where)
    text = unpack(packed, where)
    try:
        new = manifest_mod.parse(text, where)
    except FormatError as exc:
        raise ReceiveError(str(exc)) from exc
    _check_names(new, where)
    judge(server, where, new)  # a refused object: nothing is written (flagged: at commit)
    area = server.sid.area(role, env)
    try:
        validate_area(server, area)  # what we hold is what our Manifest says
        old = area.manifest()
    except (AtlasError, OSError):
        return None
    return _plan(env, text, old, new)


def _plan(env: int, text: str, old: Manifest, new: Manifest) -> Delta | None:
    delta = Delta(env, text, new)
    for key, entry in new.items():
        was = old.get(key)
        if was == entry:
            continue
        exists = was is not None and was.type != "absent"
        if entry.type == "absent":
            if exists:
                delta.removed.append(key)
        elif exists and was is not None and was.type != entry.type:
            return None  # a type change: rsync replaces whole trees correctly
        elif entry.type == "file" and not (
            exists and was is not None and was.sha256 == entry.sha256
        ):
            delta.need.append(key)
        else:
            delta.changed.append(key)
    delta.removed += [k for k, e in old.items() if k not in new and e.type != "absent"]
    # directories that held old objects and hold no listed one now go too (as with rsync)
    kept = set(_ancestors(new)) | set(new)
    delta.removed += sorted({a for a in _ancestors(old) if a not in kept})
    size = sum(new[k].size for k in delta.need)
    if len(delta.need) + len(delta.removed) > MAX_OBJECTS or size > MAX_BYTES:
        return None
    return delta


def apply(
    server: Server, role: str, delta: Delta, objects: Sequence[tuple[str, str, str]], peer: str
) -> None:
    """Check every object sent against the new Manifest, then write the delta."""
    where = f"delta of {role}/Env{delta.env} from {peer}"
    _check_granted(server, role, delta.env, peer, where)
    contents = _checked_objects(delta, objects, where)
    area = server.sid.area(role, delta.env)
    with AreaWriter(str(area.path), where) as writer:
        for key in sorted(delta.removed, key=lambda k: k[1].count("/"), reverse=True):
            writer.remove(_parts(key))
        for key in sorted(delta.changed + delta.need, key=lambda k: k[1]):
            _write(writer, delta.new[key], contents.get(key))
        own = (0o600, os.getuid(), os.getgid(), time.time_ns())
        writer.write_file(["Manifest"], delta.text.encode(), own)
    # checked now, so that the sender can still push the whole area if anything is amiss
    # (receive-commit then finds this validation recorded: the area did not change since)
    validate_area(server, area)
    server.log(
        f"receive {role}/Env{delta.env} from {peer}: delta of {len(delta.need)} objects sent, "
        f"{len(delta.changed)} changed in place, {len(delta.removed)} removed"
    )


def _write(writer: AreaWriter, entry: Entry, data: bytes | None) -> None:
    parts, owner = _parts(entry.key), (entry.uid, entry.gid)
    meta = (entry.mode, entry.uid, entry.gid, entry.mtime_ns)
    if entry.type == "dir":
        writer.directory(parts, entry.mode, owner)
    elif entry.type == "symlink":
        writer.symlink(parts, entry.target, owner)
    elif data is not None:
        writer.write_file(parts, data, meta)
    else:
        writer.set_file_meta(parts, meta)


def _checked_objects(
    delta: Delta, objects: Sequence[tuple[str, str, str]], where: str
) -> dict[tuple[str, str], bytes]:
    """The content of each object sent ([tree, path, base64], the shape checked by the
    protocol), checked against what was asked for and against the new Manifest."""
    contents: dict[tuple[str, str], bytes] = {}
    for tree, path, encoded in objects:
        key = (tree, path)
        entry = delta.new.get(key)
        if key not in delta.need or entry is None or key in contents:
            raise ReceiveError(f"{where}: {tree}{path} was not asked for")
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ReceiveError(f"{where}: {tree}{path}: not base64") from exc
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise ReceiveError(f"{where}: {tree}{path}: checksum does not match the Manifest")
        contents[key] = data
    missing = set(delta.need) - set(contents)
    if missing:
        first = sorted(missing)[0]
        raise ReceiveError(f"{where}: {first[0]}{first[1]} was asked for and not sent")
    return contents


def _check_granted(server: Server, role: str, env: int, peer: str, where: str) -> None:
    grant = read_grant(server, peer)
    envs = grant.get("envs")
    if grant.get("role") != role or not isinstance(envs, list) or env not in envs:
        raise RefusedError(f"{where}: not an area this receive granted")


def _check_names(new: Manifest, where: str) -> None:
    try:
        for tree, path in new:
            if tree == "area":
                if not path.startswith(("SyncFilePaths", "IdentFilePaths")) or "/" in path:
                    raise ReceiveError(
                        f"{where}: the Manifest names an unexpected area file {path!r}"
                    )
            else:
                paths_mod.normalise(path, where, None)
    except FormatError as exc:
        raise ReceiveError(str(exc)) from exc


def _ancestors(keys: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The directories above each listed object, (tree, path) like the objects."""
    for tree, path in keys:
        while tree != "area" and (path := path.rpartition("/")[0]):
            yield (tree, path)


def _parts(key: tuple[str, str]) -> list[str]:
    tree, path = key
    return [path] if tree == "area" else [tree, *path.strip("/").split("/")]
