"""Env<N> up/down steps and the chains ConvertToOlder (SPEC 5.3) and ConvertToNewer (5.5).

A chain is one transaction. ConvertToOlder runs while (R, E) carries InvalidVersions, which
makes every older area invalid until the last step succeeded and the flag is cleared.
ConvertToNewer writes areas newer than SnapshotEnvVersion[R] (invalid by the rule) and makes
them valid at once by setting SnapshotEnvVersion[R] last. Any failure leaves the targets
invalid; nothing is repaired here: the next cycle starts afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.converters.aspects import aspects
from atlas_ha.converters.transaction import ConversionTx, write_manifest
from atlas_ha.errors import AtlasError, ConversionError, InvalidSnapshotError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.esd import EnvDef
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.scan import scan_area
from atlas_ha.layout.sid import INVALID_VERSIONS


def convert_step(
    server: Server, role: str, src_env: int, dst_env: int, source_entries: Manifest | None = None
) -> Manifest | None:
    """Convert (role, src_env) into (role, dst_env); the two EnvVersions are adjacent.

    `source_entries`: the source's Manifest (without area entries) as the step before in
    the same chain wrote it, so that it is not parsed again. Returns the target's, None when
    the target was up to date (nothing written)."""
    if abs(src_env - dst_env) != 1:
        raise ValueError("conversion steps are between adjacent EnvVersions")
    sid, envs = server.sid, server.envs
    source, target = sid.area(role, src_env), sid.area(role, dst_env)
    a, b = envs[src_env], envs[dst_env]
    marker = sid.converted_marker(role, dst_env)
    inputs = _inputs_digest(server, source.manifest_file, a, b)
    if _up_to_date(marker, inputs, target.manifest_file):
        return None  # same source, same converters, target untouched since: nothing to do
    tx = ConversionTx(source, source_entries)
    for name, aspect in aspects().items():
        fa, fb = a.formats.get(name), b.formats.get(name)
        if fa and fb and fa != fb:  # an optional aspect one environment lacks: left alone
            aspect.convert(tx, fa, fb, b.device)
    if a.sync_paths != b.sync_paths:
        tx.replace_listed(a.sync_paths, b.sync_paths)
    newer = max(src_env, dst_env)
    program = server.esd.converter_program(newer)
    link = _may_share(server, role, program)
    if link and not sid.shared_marker(role).exists():  # before the first link is made
        atomic_write(sid.shared_marker(role), f"{role}\n", mode=0o600, durable=True)
    entries = tx.materialise(target, link=link)
    if program.exists():
        direction = "up" if dst_env > src_env else "down"
        try:
            server.runner.run([str(program), direction, str(source.path), str(target.path)])
        except AtlasError as exc:
            raise ConversionError(
                program, None, f"site converter Env{newer} {direction} to succeed (exit 0): {exc}"
            ) from exc
        entries = scan_area(target, entries)
    write_manifest(target, entries)
    atomic_write(
        marker, json.dumps({"inputs": inputs, "target": _digest(target.manifest_file)}), mode=0o600
    )
    return entries


def _may_share(server: Server, role: str, program: Path) -> bool:
    """Whether the step's target may share the source's copies of what it leaves unchanged
    (hard links: one inode, so one mode, owner and mtime for both areas).

    Only for this server's own role: its areas are written by Create, conversions and
    restores alone, which never change a shared copy in place (`objects.place_known` copies
    it first). Another role's areas are received: rsync sets a changed mode or owner of an
    existing file in place, which would reach every area sharing that inode; so a link is
    made only after `SidData.shared_marker` is written, and receive-begin of a role so
    marked (a disk whose role was changed by hand) first gives its areas copies of their
    own. Never with a site converter program, which may write DST_AREA in place."""
    if program.exists():
        return False
    try:
        return server.role() == role
    except AtlasError:  # no readable MasterConfig: nothing is shared
        return False


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _inputs_digest(server: Server, source_manifest: Path, a: EnvDef, b: EnvDef) -> str:
    """What a conversion's result depends on: the source snapshot (its Manifest names every
    object with its checksum, and the path lists), both environments and the site program."""
    program = server.esd.converter_program(max(a.version, b.version))
    parts = [_digest(source_manifest), repr(a), repr(b), _digest(program)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _up_to_date(marker: Path, inputs: str, target_manifest: Path) -> bool:
    try:
        recorded = json.loads(marker.read_text())
    except (FileNotFoundError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("inputs") == inputs
        and recorded.get("target") == _digest(target_manifest) != ""
    )


def convert_to_older(server: Server, role: str, env: int) -> list[int]:
    """ConvertToOlder from (role, env) down to (role, 1); return the EnvVersions written.

    The source must be valid (SPEC 3: an invalid snapshot is never converted): SEV[role] = env
    and no InvalidSnapshot or InvalidSend in it. Its own InvalidVersions flag is what this
    chain clears: Create leaves it set until the older areas are rebuilt."""
    sid = server.sid
    top = sid.area(role, env)
    sev = sid.sev(role)
    flags = [f for f in top.flags() if f != INVALID_VERSIONS]
    if sev != env or not top.path.is_dir() or flags:
        reason = (
            f"SnapshotEnvVersion[{role}] is {sev}"
            if sev != env
            else ("the area does not exist" if not top.path.is_dir() else f"flagged {flags}")
        )
        raise InvalidSnapshotError(
            f"ConvertToOlder refused: the source ({role},{env}) in {sid.root} is not valid "
            f"({reason}); an invalid snapshot is never converted"
        )
    if not top.has_flag(INVALID_VERSIONS):
        sid.set_flag(top, INVALID_VERSIONS)
    written = []
    entries: Manifest | None = None
    for v in range(env - 1, 0, -1):
        server.faults.checkpoint(f"convert.down.Env{v}")
        entries = convert_step(server, role, v + 1, v, entries)
        written.append(v)
    for v in written:
        sid.clear_flags(sid.area(role, v))
    server.faults.checkpoint("convert.down.commit")
    sid.clear_flag(top, INVALID_VERSIONS)
    if written:
        areas = [f"{role}/Env{v}" for v in written]
        server.history.record("convert-older", role, env, areas, targeted=_plain(server, env))
    return written


def convert_to_newer(server: Server, role: str, env: int) -> list[int]:
    """ConvertToNewer for `role` up to `env`; return the EnvVersions written (empty if S >= env)."""
    sid = server.sid
    start = sid.sev(role)
    if start is None:
        raise InvalidSnapshotError(
            f"{sid.root}: no valid snapshot of {role} to convert (SnapshotEnvVersion empty)"
        )
    if start >= env:
        return []
    sid.require_valid(role, start)
    written = []
    entries: Manifest | None = None
    for v in range(start + 1, env + 1):
        server.faults.checkpoint(f"convert.up.Env{v}")
        entries = convert_step(server, role, v - 1, v, entries)
        written.append(v)
    for v in written:
        sid.clear_flags(sid.area(role, v))
    server.faults.checkpoint("convert.up.commit")
    sid.set_sev(role, env)
    areas = [f"{role}/Env{v}" for v in written]
    server.history.record("convert-newer", role, env, areas, targeted=_plain(server, env))
    return written


def _plain(server: Server, top: int) -> bool:
    """Whether no site converter program serves the steps up to Env`top`: then each target
    holds exactly what its new Manifest says (`materialise` prunes the rest), and the history
    may stage only what changed. A program may write anything into DST_AREA, which its
    rescan of the listed paths would not name: the history stages such areas whole."""
    return not any(server.esd.converter_program(v).exists() for v in range(2, top + 1))


def convert_partners_to_newer(
    server: Server, role: str | None = None
) -> Iterator[tuple[str, list[int]]]:
    """`sync convert-newer`: ConvertToNewer up to this server's EnvID of `role`, or of every
    role on the disk but this server's own; yields (role, EnvVersions written) as each is
    done (a failure raises after the roles before it were converted and recorded)."""
    own = server.role()
    for other in [role] if role else [r for r in server.sid.roles() if r != own]:
        yield other, convert_to_newer(server, other, server.env_id)
