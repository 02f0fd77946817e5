"""The receiving side of Snapshot Send (SPEC 5.4) and role verification (SPEC 5.8).

Nothing received is trusted. Before the transfer every existing (R, V) area of the role is
flagged InvalidSend and SnapshotEnvVersion[R] is cleared; after it, each received area is
checked against its own Manifest (clean absolute paths, exactly the listed objects, types,
sizes, bounded total, sha256 of every file whose inode changed since it was last verified).
Only then is SnapshotEnvVersion[R] set to the value sent and InvalidSend cleared.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from atlas_ha.errors import FormatError, ReceiveError, RefusedError
from atlas_ha.layout import objects
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.sid import INVALID_SEND, Area
from atlas_ha.layout.sid import grant_file as sid_grant_file
from atlas_ha.model import MasterConfig
from atlas_ha.sync.context import Server

MAX_TOTAL_BYTES = 8 << 30
AREA_FILES = {"Manifest", "SyncFiles", "IdentFiles", "SyncFilePaths", "IdentFilePaths"}


def verify_requester(server: Server, requester: MasterConfig, address: str, op: str) -> None:
    """SPEC 5.8: refuse unless the requester is this server's legitimate partner."""
    own = server.master()
    who = f"{op} from {requester.role} at {address}"
    if requester.group != own.group:
        raise RefusedError(f"refused {who}: group {requester.group!r} is not ours ({own.group!r})")
    if requester.is_pri:
        if own.is_pri:
            raise RefusedError(f"refused {who}: this server is PRI itself")
        if own.role not in requester.partners:
            raise RefusedError(f"refused {who}: the requester does not list {own.role}")
        expected = own.partners["PRI"].address if "PRI" in own.partners else None
    else:
        if op == "syncup":
            raise RefusedError(f"refused {who}: only the PRI may request SyncUp")
        if not own.is_pri:
            raise RefusedError(f"refused {who}: a SEC sends only to its PRI; this is {own.role}")
        if requester.role not in own.partners:
            raise RefusedError(f"refused {who}: {requester.role} is not one of our partners")
        expected = own.partners[requester.role].address
    if address != expected:
        raise RefusedError(f"refused {who}: our MasterConfig gives {expected} for {requester.role}")


GRANT_SECONDS = 900


def grant_file(server: Server, peer: str) -> Path:
    """Where the rsync grant for `peer` lives (what the ssh forced command checks)."""
    return sid_grant_file(server.sid.root, peer)


def begin(
    server: Server, role: str, envs: list[int], peer: str, digests: dict[str, str] | None = None
) -> tuple[dict[int, Path], list[int]]:
    """Flag every area of `role` InvalidSend, clear SEV[role], grant `peer` rsync into
    SID_DATA/<role>/Env<V> until commit; return where each env goes, and the envs already
    current here.

    `digests` (env -> sha256 of the sender's Manifest): an area whose Manifest has that same
    digest and that validates against it now (after it was flagged InvalidSend: every listed
    object present with its type, size and, where the inode changed since the last
    verification, checksum) is current: the sender need not push it and the grant leaves it
    out, so nothing can write into it before commit, which then does not validate it again.
    """
    sid = server.sid
    sid.ensure()
    for v in sorted(set(sid.envs(role)) | set(envs)):
        sid.set_flag(sid.area(role, v), INVALID_SEND)
    sid.set_sev(role, None)
    digests = digests or {}
    current = [v for v in envs if _is_current(server, sid.area(role, v), digests.get(str(v)))]
    grant = {
        "role": role,
        "expires": server.clock.now() + GRANT_SECONDS,
        "envs": [v for v in envs if v not in current],
        "current": current,
    }
    atomic_write(grant_file(server, peer), json.dumps(grant), mode=0o600)
    return {v: sid.area(role, v).path for v in envs}, current


def _is_current(server: Server, area: Area, digest: str | None) -> bool:
    if not digest or manifest_digest(area) != digest:
        return False
    try:
        validate_area(server, area)
    except ReceiveError as exc:
        server.log(f"receive {area.ref}: same Manifest as the sender's, but {exc}: resend")
        return False
    return True


def manifest_digest(area: Area) -> str:
    """sha256 of the area's Manifest file ("" when it has none)."""
    try:
        return hashlib.sha256(area.manifest_file.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def read_grant(server: Server, peer: str) -> dict[str, object]:
    """The receive grant `peer` holds ({} when none or unreadable)."""
    try:
        grant = json.loads(grant_file(server, peer).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return grant if isinstance(grant, dict) else {}


def commit(server: Server, role: str, sev: int, envs: list[int], peer: str) -> None:
    """Validate every received area (those found current at begin were validated then and
    could not be written since), then set SEV[role] and clear InvalidSend."""
    grant = read_grant(server, peer)
    grant_file(server, peer).unlink(missing_ok=True)
    current = grant.get("current") if grant.get("role") == role else []
    skip = {v for v in current if isinstance(v, int)} if isinstance(current, list) else set()
    sid = server.sid
    if not envs or sev not in envs or any(v < 1 or v > sev for v in envs):
        raise ReceiveError(f"received {role}: SEV={sev} with envs {envs} is inconsistent")
    for v in envs:
        if v not in skip:
            validate_area(server, sid.area(role, v))
    server.faults.checkpoint("receive.validated")
    sid.set_sev(role, sev)
    for v in envs:
        sid.clear_flag(sid.area(role, v), INVALID_SEND)
    server.history.record("receive", role, sev, [f"{role}/Env{v}" for v in envs])


def validate_area(server: Server, area: Area) -> None:
    """Check the area against its own Manifest (see the module doc); raise ReceiveError.

    An area that passed and has not changed since (same Manifest, and every object in it the
    same inode with the same ctime, size, mode and owner: nothing can be written, renamed or
    chmod-ed without changing those) is not checked object by object again."""
    locks = server.sid.root / ".locks"
    proof_file = locks / f"proof-{area.ref.role}-Env{area.ref.env}.json"
    proof = {"manifest": manifest_digest(area), "tree": _tree_proof(area)}  # before reading
    recorded: object = _load_cache(proof_file)
    if proof["manifest"] and recorded == proof:
        return
    _validate_area(server, area)
    atomic_write(proof_file, json.dumps(proof), mode=0o600)


def _tree_proof(area: Area) -> str:
    """A digest of where every object of the area is and when it last changed."""
    digest = hashlib.sha256()
    for rel, _fs, st in objects.walk(area.path, ""):
        if st is None or rel == f"/{INVALID_SEND}":  # the flag is state, set by receive
            continue
        if stat.S_ISDIR(st.st_mode):  # its times change with the flag: its entries count
            row = f"{rel}\0d\0{st.st_ino}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\n"
        else:
            row = (
                f"{rel}\0{st.st_ino}\0{st.st_ctime_ns}\0{st.st_size}\0{st.st_mode}"
                f"\0{st.st_uid}\0{st.st_gid}\n"
            )
        digest.update(row.encode(errors="surrogateescape"))
    return digest.hexdigest()


def _validate_area(server: Server, area: Area) -> None:
    where = f"received {area.ref}"
    try:
        manifest = area.manifest()
        for name in ("SyncFilePaths", "IdentFilePaths"):
            paths_mod.read(area.path / name)
    except FormatError as exc:
        raise ReceiveError(f"{where}: {exc}") from exc
    if not area.manifest_file.exists():
        raise ReceiveError(f"{where}: no Manifest")
    extra = {p.name for p in area.path.iterdir()} - AREA_FILES - {INVALID_SEND}
    if any(not n.startswith("SyncFilePaths") for n in extra):
        raise ReceiveError(f"{where}: unexpected objects {sorted(extra)}")
    total = sum(e.size for e in manifest.values())
    if total > MAX_TOTAL_BYTES:
        raise ReceiveError(f"{where}: {total} bytes exceeds the bound of {MAX_TOTAL_BYTES}")
    cache_file = server.sid.root / ".locks" / f"verified-{area.ref.role}-Env{area.ref.env}.json"
    cache = _load_cache(cache_file)
    fresh: dict[str, list[object]] = {}
    for tree in ("SyncFiles", "IdentFiles"):
        _check_tree(area, tree, manifest, cache, fresh, where)
    _check_area_files(area, manifest, where)
    if fresh != cache:
        atomic_write(cache_file, json.dumps(fresh), mode=0o600)


def _check_tree(
    area: Area,
    tree: str,
    manifest: Manifest,
    cache: dict[str, list[object]],
    fresh: dict[str, list[object]],
    where: str,
) -> None:
    expected = {p: e for (t, p), e in manifest.items() if t == tree and e.type != "absent"}
    listed = [p for (t, p) in manifest if t == tree]  # absent ones too: their directories stay
    try:
        for path in listed:
            paths_mod.normalise(path, f"{where} Manifest", None)
    except FormatError as exc:
        raise ReceiveError(str(exc)) from exc
    parents: set[str] = set()  # directories above listed objects may exist unlisted
    for path in listed:
        while (path := path.rpartition("/")[0]) and path not in parents:
            parents.add(path)
    found: set[str] = set()
    tree_dir = area.tree_dir(tree)
    for top in objects.tops_of(tree_dir):
        for system_path, fs_path, st in objects.walk(tree_dir, top):
            if st is None:
                continue
            found.add(system_path)
            entry = expected.get(system_path)
            if entry is None and system_path not in parents:
                raise ReceiveError(f"{where}: {tree}{system_path} is not in the Manifest")
            if entry is None:
                continue
            kind = objects.object_type(st)
            if kind != entry.type or (kind == "symlink" and os.readlink(fs_path) != entry.target):
                raise ReceiveError(
                    f"{where}: {tree}{system_path} is a {kind}, the Manifest says {entry.type}"
                )
            if kind == "file":
                _check_file(
                    fs_path,
                    st,
                    entry.sha256,
                    entry.size,
                    cache,
                    fresh,
                    where,
                    f"{tree}{system_path}",
                )
    missing = sorted(set(expected) - found)
    if missing:
        raise ReceiveError(f"{where}: {tree}{missing[0]} listed in the Manifest did not arrive")


def _check_file(
    fs_path: str,
    st: os.stat_result,
    sha: str,
    size: int,
    cache: dict[str, list[object]],
    fresh: dict[str, list[object]],
    where: str,
    name: str,
) -> None:
    if st.st_size != size:
        raise ReceiveError(f"{where}: {name}: {st.st_size} bytes, the Manifest says {size}")
    stamp: list[object] = [st.st_ino, st.st_ctime_ns, st.st_size, sha]
    if cache.get(fs_path) != stamp and objects.hash_file(Path(fs_path)) != sha:
        raise ReceiveError(f"{where}: {name}: checksum does not match the Manifest")
    fresh[fs_path] = stamp


def _check_area_files(area: Area, manifest: Manifest, where: str) -> None:
    for (tree, name), entry in manifest.items():
        if tree != "area":
            continue
        path = area.path / name
        if not name.startswith(("SyncFilePaths", "IdentFilePaths")) or "/" in name:
            raise ReceiveError(f"{where}: Manifest names an unexpected area file {name!r}")
        if not path.is_file() or objects.hash_file(path) != entry.sha256:
            raise ReceiveError(f"{where}: {name}: checksum does not match the Manifest")


def _load_cache(path: Path) -> dict[str, list[object]]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
