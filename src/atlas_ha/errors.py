"""The owned exception tree of atlas-ha; each class maps to one CLI exit code.

    AtlasError                      1  anything the tool itself detected
    ├── SettingsError               2  the per-server settings file is missing or malformed
    ├── FormatError                 3  a file of the on-disk layout (or a synced file) is malformed
    │   └── ConversionError         4  a snapshot cannot be converted faithfully
    ├── InvalidSnapshotError        5  an operation needs a valid snapshot and there is none
    ├── FlagWriteError              6  an invalidation flag could not be written (alert, stop)
    ├── RoleError                   7  the operation is not allowed for this server's role
    ├── RefusedError                8  a partner refused a request (role verification, SPEC 5.8)
    ├── TransportError              9  a partner could not be reached or the transfer failed
    ├── ReceiveError               10  received data failed validation (paths, sizes, checksums)
    ├── HistoryError               11  the git history could not be read or written
    ├── ServerStateError           12  the server (or lab) is not in the state the command needs
    ├── InjectedFault              13  a fault injected by a test (ATLAS_HA_FAULTS, faults.py)
    ├── SuspendedError             15  a SyncCycle (or, on a SEC, a SyncUp or an Install)
    │                                  while the Synchronizer is suspended (sync/suspension.py)
    ├── GuardError                 16  a safety guard refused an operation that would destroy
    │                                  what it protects (a missing system root or identity, a
    │                                  mass deletion; SPEC 5.2)
    └── PluginError                17  a backend (transport, aspect, verifier kind, listener)
        │                              is not installed, or cannot load (plugins.py)
        └── UnknownKindError       18  a service names a verifier kind that is not installed

An operating-system error the tool did not anticipate (a full disk, a read-only mount, a
permission) exits with 14, naming the file. Nothing is half-written: every write is atomic
and every snapshot is flagged invalid until its operation completed.

`atlas-ha sync compare` and `atlas-ha sync cycle` exit with 20 when they ran but found
differences or stale/unreachable SECs (not an exception: a result). `atlas-ha verify run`
exits with 20 + the worst status of its round when a check is not OK: 21 WARNING,
22 CRITICAL, 23 UNKNOWN.
"""

from __future__ import annotations

from pathlib import Path

EXIT_DIFFERENCES = 20
EXIT_SYSTEM = 14
EXIT_VERIFY_BASE = 20  # + Status: 21 WARNING, 22 CRITICAL, 23 UNKNOWN


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


class PluginError(AtlasError):
    """A backend of some family is not installed, or cannot be loaded (its optional
    dependency missing, its entry point broken); names the family, the backend and why."""

    exit_code = 17


class UnknownKindError(PluginError):
    """A service declares a verifier kind that no installed plugin provides."""

    exit_code = 18
