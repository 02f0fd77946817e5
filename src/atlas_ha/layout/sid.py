"""SID_DATA on the Unbound Data: areas, SnapshotEnvVersion, flags, validity.

Validity (SPEC 3.2): snapshot (R, V) is valid iff V <= SnapshotEnvVersion[R], its directory
exists, and none of InvalidSnapshot, InvalidVersions, InvalidSend is present in it, nor
InvalidVersions in the (R, SnapshotEnvVersion[R]) area.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import FlagWriteError, InvalidSnapshotError, ServerStateError
from atlas_ha.faults import Faults
from atlas_ha.layout import durable
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import (
    atomic_write,
    fsync_dir,
    locked,
    read_text_or_none,
    write_if_changed,
)
from atlas_ha.model import ROLE_RE, MasterConfig, SnapshotRef, check_env, role_key

INVALID_SNAPSHOT = "InvalidSnapshot"
INVALID_VERSIONS = "InvalidVersions"
INVALID_SEND = "InvalidSend"
FLAGS = (INVALID_SNAPSHOT, INVALID_VERSIONS, INVALID_SEND)
SEV_FILE = "SnapshotEnvVersion"
POLICY_FLAGGED = "PolicyFlagged.json"  # what the receive policy flagged in the last receive
ENV_RE = re.compile(r"^Env([1-9][0-9]{0,3})$")  # Env1..Env9999 (model.MAX_ENV)
# Not part of the history: flags and SnapshotEnvVersion are state (SEV flips every cycle on a
# PRI whose SECs are older: receive sets it down, ConvertToNewer up), the rest is private;
# each role's VerifierResults database (SPEC 8.5) lives beside its Env<N> areas, unsynced;
# the role's ssh keys (ROLE_SSH_DIR) are the role's authority: never synced, never recorded.
ROLE_SSH_DIR = ".ssh"
GITIGNORE = (
    "".join(f"{f}\n" for f in FLAGS)
    + f"/*/{SEV_FILE}\n/.locks/\n/.staging/\n/.results/\n/{ROLE_SSH_DIR}/\n.*.atlas-tmp.*\n"
    + "/*/VerifierResults.sqlite*\n"
    + f"/*/{POLICY_FLAGGED}\n"
    + "/*/Report/\n"
)
REPORT_DIR = "Report"  # beside VerifierResults: the event log, its roll-ups (report/)


def role_ssh_dir(sid_root: Path) -> Path:
    """The ssh authority of the role this disk holds (SPEC 10), on the Unbound Data so that it
    moves with the role: `id_ed25519` (the role's client key) and `authorized_keys` (the keys
    of the partner roles, each with its role fixed in the forced command). Mode 0700; not a
    role area (never sent) and ignored by the history."""
    return sid_root / ROLE_SSH_DIR


def role_key_file(sid_root: Path) -> Path:
    """The role's ssh client key (private; `.pub` beside it)."""
    return role_ssh_dir(sid_root) / "id_ed25519"


def role_host_key(sid_root: Path) -> Path:
    """The role's ssh host key (private; `.pub` beside it): sshd presents it at the role's
    address (`keys sshd-config` names it as the first HostKey), so it moves with the role."""
    return role_ssh_dir(sid_root) / "host_ed25519"


def role_authorized_keys(sid_root: Path) -> Path:
    """The partner roles' keys this role accepts (what sshd's AuthorizedKeysFile names)."""
    return role_ssh_dir(sid_root) / "authorized_keys"


def grant_file(sid_root: Path, peer: str) -> Path:
    """Where a receive grant for `peer` lives (made by receive-begin, checked by the forced
    command before it lets rsync write, removed by receive-commit)."""
    return sid_root / ".locks" / f"grant-{peer}.json"


def send_grant_file(sid_root: Path, peer: str) -> Path:
    """Where a send grant for `peer` lives: made by a SEC sending back over the PRI's own
    connection, it lets the forced command run a reading rsync (`--sender`) of the granted
    areas of this server's own role; removed when that pull is answered."""
    return sid_root / ".locks" / f"send-{peer}.json"


@dataclass(frozen=True)
class Area:
    """The directory of snapshot (R, V): path lists, SyncFiles/, IdentFiles/, Manifest, flags."""

    path: Path
    ref: SnapshotRef

    @property
    def sync_files(self) -> Path:
        return self.path / "SyncFiles"

    @property
    def ident_files(self) -> Path:
        return self.path / "IdentFiles"

    @property
    def manifest_file(self) -> Path:
        return self.path / "Manifest"

    def tree_dir(self, tree: str) -> Path:
        return self.path / tree

    def copy_path(self, tree: str, system_path: str) -> Path:
        """Where the copy of `system_path` lives in this area's tree (rooted)."""
        return self.path / tree / system_path.lstrip("/")

    def sync_paths(self) -> list[str]:
        return paths_mod.read(self.path / "SyncFilePaths")

    def ident_paths(self) -> list[str]:
        return paths_mod.read(self.path / "IdentFilePaths")

    def manifest(self) -> manifest_mod.Manifest:
        text = read_text_or_none(self.manifest_file)
        if text is None:
            return {}
        return manifest_mod.parse(text, self.manifest_file)

    def has_flag(self, flag: str) -> bool:
        return (self.path / flag).exists()

    def flags(self) -> list[str]:
        return [f for f in FLAGS if self.has_flag(f)]


class SidData:
    """One SID_DATA directory (whatever server the disk is plugged into)."""

    def __init__(self, root: Path, faults: Faults | None = None) -> None:
        self.root = root
        self.faults = faults or Faults()  # "durable.flush": before a flag's syncfs
        self._invalid_seen: dict[tuple[str, int], tuple[int, bool]] = {}  # at durable.epoch
        durable.register(str(root), self._in_invalid_area)

    # -- MasterConfig -----------------------------------------------------------------------
    @property
    def master_config_file(self) -> Path:
        return self.root / "MasterConfig"

    def master_config(self) -> MasterConfig:
        text = read_text_or_none(self.master_config_file)
        if text is None:
            raise ServerStateError(
                f"{self.master_config_file}: no MasterConfig "
                "(is the Unbound Data plugged in and initialised?)"
            )
        return MasterConfig.parse(text, self.master_config_file)

    def write_master_config(self, config: MasterConfig) -> None:
        self.ensure()
        atomic_write(self.master_config_file, config.render(), mode=0o600)

    def ensure(self) -> None:
        """Create SID_DATA owned by the caller with mode 0700 (it holds copies of /etc/shadow)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        write_if_changed(self.root / ".gitignore", GITIGNORE, mode=0o600)

    # -- private state (never synced, never recorded) ---------------------------------------
    @property
    def results_dir(self) -> Path:
        """SID_DATA/.results: the role's own results and state (cycle report, suspension)."""
        return self.root / ".results"

    @property
    def allowance_file(self) -> Path:
        """The operator's allowance of one mass deletion by Create (sync/guard.py)."""
        return self.results_dir / "mass-deletion-allowed.json"

    @property
    def last_cycle_file(self) -> Path:
        """The report of the last SyncCycle this disk's PRI ran (sync/cycle.py)."""
        return self.results_dir / "last-cycle.json"

    @property
    def suspended_file(self) -> Path:
        """Present while the Synchronizer is suspended (sync/suspension.py)."""
        return self.results_dir / "suspended.json"

    @property
    def cycle_request_file(self) -> Path:
        """An operator's request for a SyncCycle now (the status page writes it, the daemon's
        loop takes it: report/web/actions.py)."""
        return self.results_dir / "cycle-request.json"

    @property
    def heartbeat_file(self) -> Path:
        """The daemon's heartbeat and last sentence (daemon/loop.py)."""
        return self.results_dir / "daemon.json"

    @property
    def alerts_dir(self) -> Path:
        """The alert engine's private state (report/alerts/store.py): moves with the disk."""
        return self.results_dir / "alerts"

    @property
    def alert_state_file(self) -> Path:
        """The alert engine's state: subjects, silences, channel retries (JSON)."""
        return self.alerts_dir / "state.json"

    @property
    def alert_deliveries_file(self) -> Path:
        """The record of every delivery attempt (time, channel, outcome, error; JSON)."""
        return self.alerts_dir / "deliveries.json"

    @property
    def alert_totals_file(self) -> Path:
        """Delivery attempts counted per channel and outcome since the disk was set up, never
        decreasing (the /metrics counter; the record above keeps only the newest)."""
        return self.alerts_dir / "totals.json"

    @property
    def alert_rules_good_file(self) -> Path:
        """The last alert rules that parsed, kept in force while the rules file is bad."""
        return self.alerts_dir / "rules-last-good.toml"

    @property
    def verifier_state_dir(self) -> Path:
        """The Verifier's private state: SetUp tokens, the sentry check's memory."""
        return self.results_dir / "verifier"

    def verifier_results_file(self, role: str) -> Path:
        """VerifierResults (SPEC 8.5) of `role`: beside its areas, never synced."""
        return self.root / role / "VerifierResults.sqlite"

    def report_dir(self, role: str) -> Path:
        """The event log and its roll-ups of `role` (report/events.py, report/rollups.py):
        beside its VerifierResults, never synced, ignored by the history."""
        return self.root / role / REPORT_DIR

    def events_file(self, role: str, day: str) -> Path:
        """The events of one UTC day (YYYY-MM-DD) of `role`: one JSON object a line."""
        return self.report_dir(role) / f"events-{day}.jsonl"

    def events_files(self, role: str) -> list[Path]:
        """Every day file of the event log of `role`, oldest first."""
        base = self.report_dir(role)
        if not base.is_dir():
            return []
        return sorted(
            p for p in base.iterdir() if re.match(r"^events-\d{4}-\d\d-\d\d\.jsonl$", p.name)
        )

    @staticmethod
    def events_day(path: Path) -> str:
        """The UTC day (YYYY-MM-DD) of a file of `events_files`."""
        return path.name[len("events-") : -len(".jsonl")]

    def rollups_file(self, role: str) -> Path:
        """Hourly and daily buckets of worst state and counts (SQLite) of `role`."""
        return self.report_dir(role) / "Rollups.sqlite"

    def report_memory_file(self, role: str) -> Path:
        """What the event recorder saw last (states, suspension, role, last cycle)."""
        return self.report_dir(role) / "memory.json"

    @property
    def locks_dir(self) -> Path:
        """Locks, grants and the receive and conversion caches (never synced or recorded)."""
        return self.root / ".locks"

    def proof_file(self, ref: SnapshotRef) -> Path:
        """What the last validation of area `ref` saw (sync/receive.py)."""
        return self.locks_dir / f"proof-{ref.role}-Env{ref.env}.json"

    def verified_file(self, ref: SnapshotRef) -> Path:
        """The inodes of area `ref` whose checksums were last verified (sync/receive.py)."""
        return self.locks_dir / f"verified-{ref.role}-Env{ref.env}.json"

    def converted_marker(self, role: str, env: int) -> Path:
        """The inputs of the conversion that last made (role, env) (sync/convert.py)."""
        return self.locks_dir / f"converted-{role}-Env{env}"

    def shared_marker(self, role: str) -> Path:
        """Present while areas of `role` may share inodes: written before an own-role
        conversion links what a step left unchanged (sync/convert.py), removed once every
        area of the role holds copies of its own (`unshared`, at receive-begin)."""
        return self.locks_dir / f"shared-{role}"

    def unshared(self, role: str) -> None:
        """Every area of `role` was given copies of its own: once they are durable (one
        syncfs), the marker goes."""
        self._flush(f"{self.shared_marker(role)} stays")
        with contextlib.suppress(FileNotFoundError):
            self.shared_marker(role).unlink()
            fsync_dir(self.locks_dir)

    # -- areas and SnapshotEnvVersion ------------------------------------------------------
    def area(self, role: str, env: int) -> Area:
        return Area(self.root / role / f"Env{env}", SnapshotRef(role, env))

    def roles(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if p.is_dir() and ROLE_RE.match(p.name)]
        return sorted(found, key=role_key)

    def envs(self, role: str) -> list[int]:
        base = self.root / role
        if not base.is_dir():
            return []
        return sorted(int(m.group(1)) for p in base.iterdir() if (m := ENV_RE.match(p.name)))

    def sev_file(self, role: str) -> Path:
        return self.root / role / SEV_FILE

    def sev(self, role: str) -> int | None:
        path = self.sev_file(role)
        text = read_text_or_none(path)
        if text is None or not text.strip():
            return None
        return check_env(text, path, 1)

    def set_sev(self, role: str, env: int | None) -> None:
        """Write SnapshotEnvVersion[role] (None: empty); a value only after every write into
        the areas it makes valid is durable (layout.durable)."""
        path = self.root / role / SEV_FILE
        if env is not None:
            self._flush("SnapshotEnvVersion not written")
        try:
            atomic_write(path, "" if env is None else f"{env}\n", mode=0o600)
        except OSError as exc:
            raise FlagWriteError(f"{path}: cannot write SnapshotEnvVersion: {exc}") from exc
        finally:
            durable.changed()

    def policy_flagged_file(self, role: str) -> Path:
        """What the receive policy flagged (accepted, reported) in the last receive of `role`
        (JSON list; absent = nothing)."""
        return self.root / role / POLICY_FLAGGED

    # -- flags and validity -----------------------------------------------------------------
    def set_flag(self, area: Area, flag: str) -> None:
        """Flag the area invalid, durably; only then may writes into it skip their fsyncs
        (layout.durable: the ordering of grouped durability)."""
        try:
            area.path.mkdir(parents=True, exist_ok=True)
            atomic_write(area.path / flag, f"{flag}\n", mode=0o600, durable=True)
            fsync_dir(area.path.parent)  # a new area directory's entry too
        except OSError as exc:
            raise FlagWriteError(f"{area.path / flag}: cannot set flag: {exc}") from exc
        finally:
            durable.changed()

    def clear_flag(self, area: Area, flag: str) -> None:
        """Remove the flag, after everything written into the area is durable: one syncfs of
        its filesystem (whichever process wrote it: this one, deferring its fsyncs, or a
        partner's rsync), then the unlink and the directory's fsync (layout.durable)."""
        flag_file = area.path / flag
        if not os.path.lexists(flag_file):
            return
        self._flush(f"{flag} stays")
        try:
            with contextlib.suppress(FileNotFoundError):
                flag_file.unlink()
                fsync_dir(area.path)
        finally:
            durable.changed()

    def _flush(self, consequence: str) -> None:
        """Grouped durability, step 3 (layout.durable): one syncfs before a change that can
        make an area valid."""
        self.faults.checkpoint("durable.flush")
        try:
            durable.flush(self.root)
        except OSError as exc:
            raise FlagWriteError(
                f"{self.root}: cannot make the areas durable (syncfs), {consequence}: {exc}"
            ) from exc

    def _in_invalid_area(self, rel: str) -> bool:
        """Grouped durability, step 2: `rel` (under the root) lies inside an existing area
        that is invalid now, so a write there may leave its fsync to step 3."""
        parts = rel.split("/")
        if len(parts) < 3 or not ROLE_RE.match(parts[0]) or not (m := ENV_RE.match(parts[1])):
            return False
        key, now = (parts[0], int(m.group(1))), durable.epoch()
        seen = self._invalid_seen.get(key)
        if seen is not None and seen[0] == now:  # no validity changed here since: one look
            return seen[1]  # per area and change, not one per file written
        area = self.area(*key)  # flagged (the common case: Create, a receive) or else invalid
        invalid = bool(area.flags()) or (area.path.is_dir() and self.validity(*key) is not None)
        self._invalid_seen[key] = (now, invalid)
        return invalid

    def clear_flags(self, area: Area) -> None:
        for flag in FLAGS:
            self.clear_flag(area, flag)

    def validity(self, role: str, env: int) -> str | None:
        """None when (role, env) is valid, else the reason it is not."""
        sev = self.sev(role)
        if sev is None:
            return f"SnapshotEnvVersion[{role}] is empty"
        if env > sev:
            return f"Env{env} is newer than SnapshotEnvVersion[{role}]={sev}"
        area = self.area(role, env)
        if not area.path.is_dir():
            return "the area does not exist"
        if flags := area.flags():
            return "flagged " + ",".join(flags)
        if self.area(role, sev).has_flag(INVALID_VERSIONS):
            return f"(R,{sev}) is flagged InvalidVersions"
        return None

    def is_valid(self, role: str, env: int) -> bool:
        return self.validity(role, env) is None

    def require_valid(self, role: str, env: int) -> Area:
        reason = self.validity(role, env)
        if reason is not None:
            raise InvalidSnapshotError(
                f"snapshot ({role},{env}) in {self.root} is not valid: {reason}"
            )
        return self.area(role, env)

    def valid_envs(self, role: str) -> list[int]:
        return [v for v in self.envs(role) if self.is_valid(role, v)]

    # -- locking ------------------------------------------------------------------------------
    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock (flock) named `name` under SID_DATA/.locks, held for the block."""
        return locked(self.locks_dir / name)
