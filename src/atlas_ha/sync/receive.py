"""The receiving side of Snapshot Send (SPEC 5.4) and role verification (SPEC 5.8).

Nothing received is trusted. receive-begin first checks the EnvVersions announced (below),
before anything is created or flagged; then every existing (R, V) area of the role is
flagged InvalidSend and SnapshotEnvVersion[R] is cleared (and areas that share inodes, from a
time R was this server's own role, get copies of their own: `_unshare`). After the transfer,
receive-commit (for exactly the areas receive-begin granted) checks each received area against
its own Manifest: the area holds its Manifest, SyncFiles/, IdentFiles/ (real directories) and
the path lists its Manifest names (regular files with the listed mode and checksum) and nothing
else; clean absolute paths, exactly the listed objects, types, link targets, sizes, bounded
total, sha256 of every file whose inode changed since it was last verified. Then the
receive policy (layout.policy: setuid, world-writable, symlinks leaving the system root,
loose shadow-class modes) judges every received Manifest: a refused object keeps the whole
receive invalid, a flagged one is reported. Only then is SnapshotEnvVersion[R] set to the
value sent and InvalidSend cleared.

The EnvVersions a sender may announce: SPEC 5.4 has it send every valid (R, V) with V <= its
own EnvID, and the receiver store them all, also those newer than its own EnvID (an Env1 SEC
holds PRI/Env2 of an Env2 PRI: a disk moved into a newer server uses them). So the envs.toml
of the receiver does not bound them; what does: distinct V with 1 <= V <= SEV, SEV among
them (what an honest sender sends: SEV and the older areas ConvertToOlder made) and
SEV <= own EnvID + `[receive] envs_ahead` (default 8: a partner more EnvVersions ahead
than that is a mistake or an attack, and each V is a directory). A request outside that is
refused with nothing created.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.errors import FormatError, ReceiveError, RefusedError
from atlas_ha.layout import objects, policy
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.sid import INVALID_SEND, Area
from atlas_ha.layout.sid import grant_file as sid_grant_file
from atlas_ha.model import MasterConfig

MAX_TOTAL_BYTES = 8 << 30
AREA_DIRS = ("SyncFiles", "IdentFiles")
AREA_LISTS = ("SyncFilePaths", "IdentFilePaths")  # and SyncFilePaths<part>, as the Manifest lists


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


def check_envs(envs: list[int], sev: int, own_env: int, ahead: int) -> str | None:
    """Why EnvVersions `envs` with SEV `sev` may not be received here (None: they may); see
    the module doc."""
    if len(set(envs)) != len(envs):
        return "an EnvVersion repeats"
    if sev not in envs:
        return f"SEV={sev} is not among them"
    if any(v < 1 or v > sev for v in envs):
        return f"each must be in 1..SEV={sev}"
    if sev > own_env + ahead:
        return f"SEV={sev} is more than {ahead} ahead of this server's EnvID {own_env}"
    return None


def begin(
    server: Server,
    role: str,
    sev: int,
    envs: list[int],
    peer: str,
    digests: dict[str, str] | None = None,
) -> tuple[dict[int, Path], list[int]]:
    """Check the EnvVersions announced, flag every area of `role` InvalidSend, clear
    SEV[role], grant `peer` rsync into SID_DATA/<role>/Env<V> until commit; return where
    each env goes, and the envs already current here.

    `digests` (env -> sha256 of the sender's Manifest): an area whose Manifest has that same
    digest and that validates against it now (after it was flagged InvalidSend: every listed
    object present with its type, size and, where the inode changed since the last
    verification, checksum) is current: the sender need not push it and the grant leaves it
    out, so nothing can write into it before commit, which then does not validate it again.
    """
    ahead = server.settings.receive.envs_ahead
    reason = check_envs(envs, sev, server.env_id, ahead)
    if reason is not None:
        raise RefusedError(
            f"receive-begin of {role} with SEV={sev} and EnvVersions {envs} from {peer} refused: "
            f"{reason} (accepted: distinct 1 <= V <= SEV, SEV among them, "
            f"SEV <= EnvID + [receive] envs_ahead = {server.env_id} + {ahead})"
        )
    sid = server.sid
    sid.ensure()
    for v in sorted(set(sid.envs(role)) | set(envs)):
        sid.set_flag(sid.area(role, v), INVALID_SEND)
    sid.set_sev(role, None)
    _unshare(server, role)
    digests = digests or {}
    current = [v for v in envs if _is_current(server, sid.area(role, v), digests.get(str(v)))]
    grant = {
        "role": role,
        "sev": sev,
        "expires": server.clock.now() + GRANT_SECONDS,
        "envs": [v for v in envs if v not in current],
        "current": current,
    }
    atomic_write(grant_file(server, peer), json.dumps(grant), mode=0o600)
    return {v: sid.area(role, v).path for v in envs}, current


def _unshare(server: Server, role: str) -> None:
    """Give every area of `role` copies of its own where a conversion made while `role` was
    this server's own role left hard links (`SidData.shared_marker`: a disk whose role was
    changed by hand): rsync changes a mode or owner on the existing inode, which would
    change an area it was not given behind that area's Manifest."""
    sid = server.sid
    if not sid.shared_marker(role).exists():
        return
    count = sum(
        objects.unshare(sid.area(role, v).tree_dir(tree))
        for v in sid.envs(role)
        for tree in AREA_DIRS
    )
    sid.unshared(role)
    server.log(
        f"receive {role}: {count} files its areas shared (hard links made while {role} was "
        "this server's own role) now have copies of their own"
    )


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
    """sha256 of the area's Manifest file ("" when it has none, or not as a regular file)."""
    data = _regular_bytes(area.manifest_file)
    return "" if data is None else hashlib.sha256(data).hexdigest()


def _regular_bytes(path: Path) -> bytes | None:
    """The content of `path` if it is a regular file, never read through a symlink (None
    when absent or anything else: a symlink, a fifo, a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # absent, or ELOOP: a symlink
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read()


def read_grant(server: Server, peer: str) -> dict[str, object]:
    """The receive grant `peer` holds ({} when none or unreadable)."""
    try:
        grant = json.loads(grant_file(server, peer).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return grant if isinstance(grant, dict) else {}


def commit(server: Server, role: str, sev: int, envs: list[int], peer: str) -> list[str]:
    """Validate every received area (those found current at begin were validated then and
    could not be written since), judge every one by the receive policy, then set SEV[role]
    and clear InvalidSend; return what the policy flagged ("Env<V> <finding>")."""
    grant = read_grant(server, peer)
    grant_file(server, peer).unlink(missing_ok=True)
    where = f"received {role}"
    if not envs or sev not in envs or any(v < 1 or v > sev for v in envs):
        raise ReceiveError(f"{where}: SEV={sev} with envs {envs} is inconsistent")
    granted, current = grant.get("envs"), grant.get("current")
    if (
        grant.get("role") != role
        or grant.get("sev") != sev
        or not isinstance(granted, list)
        or not isinstance(current, list)
        or sorted(granted + current) != sorted(envs)
    ):
        raise ReceiveError(
            f"{where}: commit of SEV={sev} with envs {envs} from {peer} does not match its "
            f"receive-begin (role {grant.get('role')}, SEV={grant.get('sev')}, "
            f"envs {granted} + current {current})"
        )
    skip = {v for v in current if isinstance(v, int)}
    sid = server.sid
    for v in envs:
        if v not in skip:
            validate_area(server, sid.area(role, v))
    flagged: list[str] = []
    for v in envs:
        area = sid.area(role, v)
        found = judge(server, f"received {area.ref}", area.manifest())
        flagged += [f"Env{v} {f}" for f in found]
    server.faults.checkpoint("receive.validated")
    record_flagged(server, role, flagged)
    sid.set_sev(role, sev)
    for v in envs:
        sid.clear_flag(sid.area(role, v), INVALID_SEND)
    # every area was validated against its Manifest: only what changed is staged
    areas = [f"{role}/Env{v}" for v in envs]
    server.history.record("receive", role, sev, areas, targeted=True)
    return flagged


def judge(server: Server, where: str, manifest: Manifest) -> list[policy.Finding]:
    """Apply the receive policy to a received Manifest: raise ReceiveError for the first
    refused object, return the flagged ones."""
    settings = server.settings
    found = policy.judge(manifest, settings.receive)
    refused = [f for f in found if f.action == "refuse"]
    if refused:
        first, more = refused[0], len(refused) - 1
        raise ReceiveError(
            f"{where}: refused by the receive policy: {first.object} {first.detail}"
            + (f" (and {more} more)" if more else "")
            + f'; to accept it set {first.rule} = "flag" (or "allow") in [receive] of '
            f"{settings.config_file}"
        )
    return found


def record_flagged(server: Server, role: str, flagged: list[str]) -> None:
    """Log each flagged object as an ALERT and keep the list for `server status`."""
    for line in flagged:
        server.log(f"ALERT receive {role}: accepted, flagged by the receive policy: {line}")
    path = server.sid.policy_flagged_file(role)
    if flagged:
        atomic_write(path, json.dumps(flagged, indent=1) + "\n", mode=0o600)
    else:
        path.unlink(missing_ok=True)


def read_flagged(server: Server, role: str) -> list[str]:
    """What the receive policy flagged in the last receive of `role` ([] when nothing)."""
    data = _load_json(server.sid.policy_flagged_file(role))
    return [str(x) for x in data] if isinstance(data, list) else []


def validate_area(server: Server, area: Area) -> None:
    """Check the area against its own Manifest (see the module doc); raise ReceiveError.

    An area that passed and has not changed since (same Manifest, and every object in it the
    same inode with the same ctime, size, mode and owner: nothing can be written, renamed or
    chmod-ed without changing those) is not checked object by object again."""
    proof_file = server.sid.proof_file(area.ref)
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
    if _regular_bytes(area.manifest_file) is None:  # never read through a symlink or a fifo
        raise ReceiveError(f"{where}: no Manifest (a regular file) at {area.manifest_file}")
    try:
        manifest = area.manifest()
        _check_area_objects(area, manifest, where)  # before reading a path list
        for name in AREA_LISTS:
            paths_mod.read(area.path / name)
    except FormatError as exc:
        raise ReceiveError(f"{where}: {exc}") from exc
    total = sum(e.size for e in manifest.values())
    if total > MAX_TOTAL_BYTES:
        raise ReceiveError(f"{where}: {total} bytes exceeds the bound of {MAX_TOTAL_BYTES}")
    cache_file = server.sid.verified_file(area.ref)
    cache = _load_cache(cache_file)
    fresh: dict[str, list[object]] = {}
    for tree in ("SyncFiles", "IdentFiles"):
        _check_tree(area, tree, manifest, cache, fresh, where)
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


def _check_area_objects(area: Area, manifest: Manifest, where: str) -> None:
    """The area's own objects: its Manifest, the tree directories, the path lists the
    Manifest names (each a regular file with the listed mode and checksum), nothing else."""
    lists = {}
    for (tree, name), entry in manifest.items():
        if tree != "area":
            continue
        if not name.startswith(AREA_LISTS) or "/" in name:
            raise ReceiveError(f"{where}: Manifest names an unexpected area file {name!r}")
        lists[name] = entry
    for child in sorted(os.scandir(area.path), key=lambda e: e.name):
        st = child.stat(follow_symlinks=False)
        kind = objects.object_type(st)
        if child.name == INVALID_SEND:
            continue
        if child.name == "Manifest" and kind == "file":
            continue
        if child.name in AREA_DIRS and kind == "dir":
            continue
        listed = lists.get(child.name)
        if listed is None:
            raise ReceiveError(
                f"{where}: unexpected {kind} {child.path} (an area holds its Manifest, "
                f"{'/, '.join(AREA_DIRS)}/ and the path lists its Manifest names)"
            )
        if kind != "file" or listed.type != "file":
            raise ReceiveError(
                f"{where}: {child.path} is a {kind}, the Manifest says {listed.type}"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode != listed.mode:
            raise ReceiveError(
                f"{where}: {child.path} has mode {mode:04o}, the Manifest says {listed.mode:04o}"
            )
        if st.st_size != listed.size or objects.hash_file(Path(child.path)) != listed.sha256:
            raise ReceiveError(f"{where}: {child.name}: checksum does not match the Manifest")
    missing = sorted(n for n in lists if not (area.path / n).is_file())
    if missing:
        raise ReceiveError(f"{where}: {missing[0]} listed in the Manifest did not arrive")


def _load_cache(path: Path) -> dict[str, list[object]]:
    data = _load_json(path)
    return data if isinstance(data, dict) else {}


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
