"""The owned exception tree of atlas-ha; each class maps to one CLI exit code.

    AtlasError                      1  anything the tool itself detected
    ├── SettingsError               2  the per-server settings file is missing or malformed
    ├── FormatError                 3  a file of the on-disk layout (or a synced file) is malformed
    │   ├── ConversionError         4  a snapshot cannot be converted faithfully
    │   └── AlertRulesError        36  the alert rules file is malformed (the last good rules
    │                                  stay in force; report/alerts/rules.py)
    ├── InvalidSnapshotError        5  an operation needs a valid snapshot and there is none
    ├── FlagWriteError              6  an invalidation flag could not be written (alert, stop)
    ├── RoleError                   7  the operation is not allowed for this server's role
    ├── RefusedError                8  a partner refused a request (role verification, SPEC 5.8)
    ├── TransportError              9  a partner could not be reached or the transfer failed
    ├── ReceiveError               10  received data failed validation (paths, sizes, checksums)
    ├── HistoryError               11  the git history could not be read or written
    ├── ServerStateError           12  the server (or lab) is not in the state the command needs
    │   └── StillRunningError      50  `daemon stop`: the daemon's process has not exited
    │                                  within the timeout after SIGTERM (it is not killed)
    ├── InjectedFault              13  a fault injected by a test (ATLAS_HA_FAULTS, faults.py)
    ├── SuspendedError             15  a SyncCycle (or, on a SEC, a SyncUp or an Install)
    │                                  while the Synchronizer is suspended (sync/suspension.py)
    ├── GuardError                 16  a safety guard refused an operation that would destroy
    │                                  what it protects (a missing system root or identity, a
    │                                  mass deletion; SPEC 5.2)
    ├── ReportServeError           33  the status page cannot be served: an address other than
    │                                  loopback without authentication configured, or an
    │                                  address that cannot be bound (report/web/server.py)
    ├── ChannelError               37  an alert channel could not deliver (a mail server
    │                                  unreachable, a program failing); recorded, retried
    ├── NoSuchAlertError           56  acknowledge: no alert of that subject is active (its
    │                                  problem was never announced, or is resolved)
    ├── PluginError                17  a backend (transport, aspect, verifier kind, listener)
    │   │                              is not installed, or cannot load (plugins.py)
    │   └── UnknownKindError       18  a service names a verifier kind that is not installed
    ├── StartRefusedError          40  the start handler refused a run: running it would be
    │                                  unsafe (SID_DATA below its free-space limit; ops/start.py)
    ├── CrashStoreError            41  the crash-signature store cannot be read or written
    ├── BundleFormatError          42  a line of an imported crash-signature bundle is malformed
    │                                  (names the file and line; nothing is imported)
    ├── UnknownSignatureError      43  no crash signature (or prefix) of that name in the store
    ├── NoLogsError                44  `atlas-ha logs`: no log of that program or run
    ├── RaidError                  46  a RAID operation refused or failed (raid/rotate.py):
    │                                  names the array, the member and what was expected
    ├── ConfigRejectedError        55  the PRI's Create refused: a service's own checker
    │                                  rejects its configuration and the settings say
    │                                  `[sync] rejected = "refuse"` (verifier/validate.py)
    ├── JoinTokenError             68  `atlas-ha join`: a pasted token is malformed, damaged
    │                                  (checksum) or does not fit this disk's group, partners
    │                                  or addresses (transport/join.py); nothing is written
    ├── VersionInstallError        63  `version install`: the wheel cannot be installed (not
    │                                  an atlas-ha wheel, a dependency missing offline — named,
    │                                  uv failing, a program reporting another version)
    ├── VersionStateError          64  `version use|rollback`: no such version installed,
    │                                  nothing to roll back to, a link not as expected
    ├── VersionSwitchError         65  `version use|rollback`: the new version failed its
    │                                  verification; the switch was undone (names why)
    └── VersionRollbackError       66  the undoing of a failed switch failed too: the old
                                       version does not verify either (names both reasons)

Every class atlas-ha raises on purpose is in this tree (tests/unit/test_errors.py). The
parse errors of the wire formats the Verifier reads (an HTTP answer, a DNS packet, a plugin's
perfdata, the synced probe list) are internal: each verifier kind turns them into a CRITICAL
or UNKNOWN profile naming the reason; they never leave it.

Exit codes that are not exceptions (each a named constant below):

    EXIT_SYSTEM          14  an operating-system error the tool did not anticipate (a full
                             disk, a read-only mount, a permission), naming the file. Nothing
                             is half-written: every write is atomic and every snapshot is
                             flagged invalid until its operation completed.
    EXIT_DIFFERENCES     20  `sync compare`, `sync cycle`, `sync send`, `lab cycle` ran but
                             found differences or stale/unreachable SECs (a result)
                             (also `raid check`, `raid rotate-in`: the check found
                             mismatch_cnt > 0, the mirrors differ)
                             (also `version handshake`: a partner did not answer the hello)
    EXIT_VERIFY_WARNING  21  `verify run`: 20 + the worst status of its round when a check is
    EXIT_VERIFY_CRITICAL 22  not OK (CRITICAL outranks UNKNOWN outranks WARNING); 23 also
    EXIT_VERIFY_UNKNOWN  23  when there was nothing to check
    `check`           0..3  `atlas-ha check ...`: the Nagios plugin contract (report/check.py)
    EXIT_DOCTOR          67  `atlas-ha doctor`: a check failed, a first cycle would not work
                             (each failing line names its fix; doctor/checks.py)
    EXIT_NOT_RUNNING      3  `daemon status`: the daemon is not running (the LSB status code;
                             only that command returns it without an error line)
    EXIT_INTERRUPTED    130  interrupted (Ctrl-C, SIGINT)
    EXIT_BROKEN_PIPE    141  the reader of the output went away (`| head`)

A command line argparse refuses exits 2 with its usage message (no error line of ours).
"""

from __future__ import annotations

from pathlib import Path

EXIT_SYSTEM = 14
EXIT_DIFFERENCES = 20
EXIT_VERIFY_BASE = 20  # + the status of a check (verifier/profile.py Status)
EXIT_VERIFY_WARNING = EXIT_VERIFY_BASE + 1
EXIT_VERIFY_CRITICAL = EXIT_VERIFY_BASE + 2
EXIT_VERIFY_UNKNOWN = EXIT_VERIFY_BASE + 3
EXIT_DOCTOR = 67  # doctor: a check failed (doctor/checks.py)
EXIT_NOT_RUNNING = 3  # LSB: program is not running
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class AtlasError(Exception):
    """Base of every error atlas-ha raises on purpose."""

    exit_code = 1


class SettingsError(AtlasError):
    exit_code = 2


class FormatError(AtlasError):
    """A file does not have the expected format; names the file, the line and what was expected."""

    exit_code = 3

    def __init__(self, path: Path | str, line: int | None, expected: str) -> None:
        self.path = str(path)
        self.line = line
        self.expected = expected
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {expected}")


class ConversionError(FormatError):
    exit_code = 4


class InvalidSnapshotError(AtlasError):
    exit_code = 5


class FlagWriteError(AtlasError):
    exit_code = 6


class RoleError(AtlasError):
    exit_code = 7


class RefusedError(AtlasError):
    exit_code = 8


class TransportError(AtlasError):
    exit_code = 9


class ReceiveError(AtlasError):
    exit_code = 10


class HistoryError(AtlasError):
    exit_code = 11


class ServerStateError(AtlasError):
    exit_code = 12


class StillRunningError(ServerStateError):
    """The daemon was asked to stop but its process still runs after the timeout."""

    exit_code = 50


class SuspendedError(AtlasError):
    """The Synchronizer is suspended: no SyncCycle, and on a suspended SEC no SyncUp/Install."""

    exit_code = 15


class InjectedFault(AtlasError):
    """A fault a test asked for at a checkpoint (faults.py)."""

    exit_code = 13


class GuardError(AtlasError):
    """A Create or an Install refused: it would record or make a loss (a system root that is
    missing, identity files that are missing, a mass deletion) that the operator did not
    allow."""

    exit_code = 16


class AlertRulesError(FormatError):
    """The alert rules file is malformed: names the file, the line and what was expected."""

    exit_code = 36


class ChannelError(AtlasError):
    """An alert channel could not deliver a notification; names the channel and why."""

    exit_code = 37


class NoSuchAlertError(AtlasError):
    """An acknowledgement names a subject without an active (announced) alert."""

    exit_code = 56


class PluginError(AtlasError):
    """A backend of some family is not installed, or cannot be loaded (its optional
    dependency missing, its entry point broken); names the family, the backend and why."""

    exit_code = 17


class UnknownKindError(PluginError):
    """A service declares a verifier kind that no installed plugin provides."""

    exit_code = 18


class RaidError(AtlasError):
    """A RAID rotation step refused (the array not clean, syncing, too few members left, a
    disk of another array) or mdadm failed; names the array, the member and what was
    expected."""

    exit_code = 46


class StartRefusedError(AtlasError):
    """The start handler (ops/start.py) refused a run: a limit of `[limits]` is crossed where
    running would be unsafe (e.g. a SyncCycle or Create into a SID_DATA below its free-space
    limit). Names the limit, the measured value and the path."""

    exit_code = 40


class CrashStoreError(AtlasError):
    """The crash-signature store (ESD_DATA/crashes) cannot be opened, read or written."""

    exit_code = 41


class BundleFormatError(AtlasError):
    """A line of a crash-signature bundle (`atlas-ha crashes import`) is not what a bundle
    holds; names the file, the line and what was expected. Nothing of the bundle is merged."""

    exit_code = 42


class UnknownSignatureError(AtlasError):
    """No crash signature of that name (or unique prefix) in the store."""

    exit_code = 43


class NoLogsError(AtlasError):
    """`atlas-ha logs`: no log file of that program, or no line of that run."""

    exit_code = 44


class ConfigRejectedError(AtlasError):
    """The PRI refuses to Create (and so to send) a configuration its service's own checker
    rejects, because the settings say `[sync] rejected = "refuse"`; names the checker, the
    file, the line and the checker's message."""

    exit_code = 55


class ReportServeError(AtlasError):
    """The status page refuses to start (a non-loopback address without authentication) or
    cannot bind its address; names the address and the setting."""

    exit_code = 33


class JoinTokenError(AtlasError):
    """A join token (transport/join.py) is refused: malformed, damaged, or not of a partner
    role of this disk's group at the address its MasterConfig names; names what was expected."""

    exit_code = 68


class VersionInstallError(AtlasError):
    """A version cannot be installed side by side (versions/install.py): names the wheel,
    the missing dependency or uv's own words; nothing of it is left half-installed."""

    exit_code = 63


class VersionStateError(AtlasError):
    """The installed versions are not in the state the command needs (an unknown version,
    no previous one, a `current` link that is not a link)."""

    exit_code = 64


class VersionSwitchError(AtlasError):
    """A switch of version failed its verification and was undone (versions/switch.py)."""

    exit_code = 65


class VersionRollbackError(AtlasError):
    """A failed switch could not be undone cleanly: the old version does not verify either."""

    exit_code = 66
