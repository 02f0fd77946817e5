"""Kind `smb`: every share of the server's smb.conf serves the test file, locks work, and the
restricted shares refuse a guest (SMB2/3 through the smbprotocol library: extra `smb`).

    [service.files]
    kind = "smb"
    configs = ["/etc/samba/smb.conf"]          # the default
    reload = ["smbcontrol", "-s", "{root}/etc/samba/smb.conf", "smbd", "reload-config"]
    [service.files.thresholds]
    connect = [0.5, 2.0]                       # seconds; also `read`, `lock`
    [service.files.options]
    user = "atlas-verifier"                    # the verifier's Samba account (required)
    password_file = "/etc/atlas-ha/secrets/smb" # its password, mode 0600 (synced, not here)
    port = 445
    host = "192.0.2.10"                        # optional: this address instead of the target's
    shares = ["data", "private"]               # optional: only these (each must be in smb.conf)
    restricted = ["private"]                   # optional: must refuse a guest (default: every
                                               # share without `guest ok = yes`)
    file = ".atlas-ha-verifier"                # the test file's name in each share

SetUp (PRI): read smb.conf in the system root (includes are named in the log, not read),
write the test file (the cycle's token) into the path of every disk share, owned like the
share's directory, and return smb.conf and the password file as configs, the test files as
data: a share whose path changes gets its test file at the new path next cycle, the old one
is removed. Verify: log in with the verifier's account (NTLM, signed), and in each share open
the test file, read it (the token must be current: the PRI's recent ones, a SEC's installed
one or newer), take an exclusive byte-range lock on it (SMB2 LOCK), check that a second open
of the same file is refused the same range (the server really keeps the lock), release it.
Then log in as a guest (an unknown user with a random password, which Samba maps to its
guest account under `map to guest = bad user`) and try each restricted share: it must be
refused. Measured: `connect` (TCP, negotiate, session setup), `read` and `lock` (the slowest
share).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:
    from smbprotocol.connection import Connection
    from smbprotocol.exceptions import SMBException, SMBResponseException
    from smbprotocol.header import NtStatus
    from smbprotocol.open import (
        CreateDisposition,
        CreateOptions,
        FileAttributes,
        FilePipePrinterAccessMask,
        ImpersonationLevel,
        LockFlags,
        Open,
        ShareAccess,
        SMB2LockElement,
    )
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect
except ImportError as exc:  # plugins.py disables the kind with this message
    raise ImportError(
        "the smb verifier needs the smbprotocol library: install atlas-ha[smb]",
        name="smbprotocol",
    ) from exc

from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.verifier.api import Context, SetUpResult, Target, Verifier
from atlas_ha.verifier.kinds import smbconf
from atlas_ha.verifier.profile import Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.setup import TokenJudge, data_file

SMB_CONF = "/etc/samba/smb.conf"
TEST_FILE = ".atlas-ha-verifier"
PREFIX = "atlas-ha verifier token "
LOCK_OFFSET = 1 << 40  # far past the file's end: a byte range no client of the share uses
# [MS-ERREF] 2.3.1: what a server answers a lock on a range another open holds
LOCK_CONFLICT = {0xC0000054, 0xC0000055}  # STATUS_FILE_LOCK_CONFLICT, STATUS_LOCK_NOT_GRANTED


class SmbVerifier(Verifier):
    kind: ClassVar[str] = "smb"
    default_targets: ClassVar[str] = "partners"

    def setup(self, ctx: Context, service: ServiceDef) -> SetUpResult:
        result = SetUpResult(configs=list(service.configs or (SMB_CONF,)))
        secret = service.options.get("password_file")
        if isinstance(secret, str):
            result.configs.append(secret)
        conf = read_conf(ctx, service)  # missing: SetUp failed (logged), Verify reports it
        result.notes += _conf_notes(conf)
        name = _file_name(service)
        for share in conf.disk_shares():
            path = share.path
            if not path or smbconf.has_substitution(path) or not path.startswith("/"):
                result.notes.append(f"share [{share.name}]: no fixed absolute path ({path!r})")
                continue
            directory = ctx.in_root(path)
            try:
                st = directory.stat()
            except OSError as exc:
                result.notes.append(f"share [{share.name}]: path {path}: {exc.strerror}")
                continue
            if not stat.S_ISDIR(st.st_mode):
                result.notes.append(f"share [{share.name}]: path {path} is not a directory")
                continue
            test_file = f"{path.rstrip('/')}/{name}"
            owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None
            try:
                atomic_write(ctx.in_root(test_file), content(ctx.token), 0o644, owner)
            except OSError as exc:
                result.notes.append(f"share [{share.name}]: cannot write {test_file}: {exc}")
                continue
            result.data.append(test_file)
        record = data_file(service, "token")
        atomic_write(ctx.in_root(record), ctx.token + "\n", mode=0o644)
        result.data.append(record)
        return result

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        try:
            opts = options(ctx, service, target)
            conf = read_conf(ctx, service)
        except (ValueError, AtlasError) as exc:
            return Profile(Status.UNKNOWN, str(exc))
        try:
            shares, restricted = opts.select(conf)
        except ValueError as exc:
            return Profile(Status.CRITICAL, str(exc))
        installed = _installed_token(ctx, service)
        probe = Probe(opts, shares, restricted, TokenJudge(ctx.server, ctx.role, installed))
        worker = threading.Thread(target=probe.run, name=f"smb {opts.where}", daemon=True)
        worker.start()
        worker.join(service.timeout)
        if worker.is_alive():
            probe.abandon()
            return Profile(Status.CRITICAL, f"{opts.where}: no answer within {service.timeout:g} s")
        measured = [judged(k, round(v, 4), "s", service.thresholds) for k, v in probe.times.items()]
        return from_checks(
            probe.failures,
            f"{opts.where}: {len(shares)} shares read and locked, "
            f"{len(restricted)} restricted refused to a guest",
            measured,
            details="\n".join(probe.log),
            data={"shares": shares, "restricted": restricted},
        )


def content(token: str) -> str:
    return f"{PREFIX}{token}\n"


def read_conf(ctx: Context, service: ServiceDef) -> smbconf.SmbConf:
    path = (service.configs or (SMB_CONF,))[0]
    try:
        text = ctx.in_root(path).read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise AtlasError(f"service {service.name}: {path}: {exc.strerror}") from exc
    return smbconf.parse(text)


def _conf_notes(conf: smbconf.SmbConf) -> list[str]:
    notes = [f"include at line {line} not read: {value}" for line, value in conf.includes]
    return notes + conf.problems


def _file_name(service: ServiceDef) -> str:
    name = service.options.get("file", TEST_FILE)
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in "..":
        raise ValueError(f"service {service.name}: options.file is a file name, not {name!r}")
    return name


def _installed_token(ctx: Context, service: ServiceDef) -> str:
    try:
        return ctx.in_root(data_file(service, "token")).read_text().strip()
    except OSError:
        return ""


@dataclass
class Options:
    where: str
    host: str
    port: int
    user: str
    password: str
    file: str
    shares: list[str] | None
    restricted: list[str] | None

    def select(self, conf: smbconf.SmbConf) -> tuple[list[str], list[str]]:
        """The shares to read and those a guest must not reach; ValueError naming a share
        the options name that smb.conf does not have."""
        disk = {s.name.lower(): s for s in conf.disk_shares()}
        names = self.shares if self.shares is not None else [s.name for s in disk.values()]
        for name in [*names, *(self.restricted or [])]:
            if name.lower() not in disk:
                raise ValueError(f"{self.where}: share [{name}] is not a disk share of smb.conf")
        if self.restricted is not None:
            restricted = list(self.restricted)
        else:
            restricted = [
                n
                for n in names
                if not (
                    disk[n.lower()].flag("guest ok", False) or disk[n.lower()].flag("public", False)
                )
            ]
        return list(names), restricted


def options(ctx: Context, service: ServiceDef, target: Target) -> Options:
    opts: dict[str, Any] = service.options
    where = f"service {service.name}"
    port = opts.get("port", 445)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{where}: options.port is a port number, not {port!r}")
    host = opts.get("host", target.address)
    if not isinstance(host, str) or not host:
        raise ValueError(f"{where}: options.host is an address, not {host!r}")
    user = opts.get("user")
    if not isinstance(user, str) or not user:
        raise ValueError(f'{where}: options.user = "<the verifier\'s Samba account>" is required')
    lists = {}
    for key in ("shares", "restricted"):
        value = opts.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        ):
            raise ValueError(f"{where}: options.{key} is a list of share names")
        lists[key] = value
    return Options(
        f"smb {host}:{port}",
        host,
        port,
        user,
        _password(ctx, service),
        _file_name(service),
        lists["shares"],
        lists["restricted"],
    )


def _password(ctx: Context, service: ServiceDef) -> str:
    path = service.options.get("password_file")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"service {service.name}: options.password_file is an absolute path")
    return ctx.read_secret(path)


@dataclass
class Probe:
    """One check's SMB dialogue, run in a worker thread (abandoned at the timeout)."""

    opts: Options
    shares: list[str]
    restricted: list[str]
    judge: TokenJudge
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a library's surprise is this check's failure, not a crash
            self.failures.append(f"{self.opts.where}: {_reason(exc)}")
        finally:
            for conn in self.connections:
                _close(conn)

    def abandon(self) -> None:
        for conn in list(self.connections):
            _close(conn)

    def _connect(self, signing: bool) -> Connection:
        conn = Connection(uuid.uuid4(), self.opts.host, self.opts.port, require_signing=signing)
        self.connections.append(conn)
        try:
            conn.connect(timeout=5)
        except ValueError as exc:  # smbprotocol's "Failed to connect to ..."
            raise ConnectionError(str(exc).split(": ", 1)[-1]) from exc
        return conn

    def _run(self) -> None:
        started = time.monotonic()
        try:
            conn = self._connect(signing=True)
        except ConnectionError as exc:
            self.failures.append(f"{self.opts.where}: no connection: {exc}")
            return
        session = Session(
            conn, self.opts.user, self.opts.password, require_encryption=False, auth_protocol="ntlm"
        )
        try:
            session.connect()
        except SMBException as exc:
            self.failures.append(
                f"{self.opts.where}: login as {self.opts.user} refused: {_reason(exc)}"
            )
            return
        self.times["connect"] = time.monotonic() - started
        self.times["read"] = self.times["lock"] = 0.0
        for share in self.shares:
            self._share(session, share)
        for share in self.restricted:
            self._guest(share)

    def _share(self, session: Session, share: str) -> None:
        where = f"share [{share}]"
        tree = TreeConnect(session, rf"\\{self.opts.host}\{share}")
        try:
            tree.connect()
        except SMBResponseException as exc:
            if exc.status == NtStatus.STATUS_BAD_NETWORK_NAME:
                self.failures.append(f"{where}: the server has no such share")
            else:
                self.failures.append(f"{where}: refused to {self.opts.user}: {_reason(exc)}")
            return
        try:
            self._file(tree, where)
        finally:
            _quietly(tree.disconnect)

    def _file(self, tree: TreeConnect, where: str) -> None:
        name = self.opts.file
        started = time.monotonic()
        try:
            handle = _open(tree, name)
            data = handle.read(0, 4096)
        except SMBException as exc:
            self.failures.append(f"{where}: cannot read {name}: {_reason(exc)}")
            return
        self.times["read"] = max(self.times["read"], time.monotonic() - started)
        try:
            text = bytes(data).decode("utf-8", "replace").strip()
            seen = text.removeprefix(PREFIX.strip()).strip() if text.startswith(PREFIX) else ""
            if not seen:
                self.failures.append(f"{where}: {name} holds no verifier token")
            elif not self.judge(seen):
                self.failures.append(
                    f"{where}: {name} holds token {seen} "
                    f"(expected {self.judge.installed or 'a recent one'})"
                )
            else:
                self.log.append(f"{where}: {name} token {seen}")
            self._lock(tree, handle, where)
        finally:
            _quietly(handle.close)

    def _lock(self, tree: TreeConnect, handle: Open, where: str) -> None:
        started = time.monotonic()
        exclusive = (
            LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
        )
        try:
            handle.lock([_range(exclusive)])
        except SMBException as exc:
            self.failures.append(f"{where}: lock on {self.opts.file} refused: {_reason(exc)}")
            return
        try:
            other = _open(tree, self.opts.file)
            try:
                other.lock([_range(exclusive)])
                self.failures.append(f"{where}: a lock on {self.opts.file} is not kept")
                _quietly(lambda: other.lock([_range(LockFlags.SMB2_LOCKFLAG_UNLOCK)]))
            except SMBResponseException as exc:
                if exc.status not in LOCK_CONFLICT:
                    raise
            finally:
                _quietly(other.close)
            handle.lock([_range(LockFlags.SMB2_LOCKFLAG_UNLOCK)])
        except SMBException as exc:
            self.failures.append(f"{where}: lock on {self.opts.file}: {_reason(exc)}")
            return
        self.times["lock"] = max(self.times["lock"], time.monotonic() - started)

    def _guest(self, share: str) -> None:
        """A guest (an unknown user, a random password) must not reach `share`."""
        try:
            conn = self._connect(signing=False)  # a guest session cannot sign
        except ConnectionError as exc:
            self.failures.append(f"share [{share}]: no connection for the guest check: {exc}")
            return
        session = Session(
            conn,
            f"atlas-ha-guest-{secrets.token_hex(4)}",
            secrets.token_urlsafe(12),
            require_encryption=False,
            auth_protocol="ntlm",
        )
        try:
            session.connect()
        except SMBException as exc:
            self.log.append(f"share [{share}]: guest login refused ({_reason(exc)})")
            return
        tree = TreeConnect(session, rf"\\{self.opts.host}\{share}")
        try:
            tree.connect(require_secure_negotiate=False)  # nothing to sign it with as a guest
        except SMBResponseException as exc:
            self.log.append(f"share [{share}]: refused to a guest ({_reason(exc)})")
            return
        _quietly(tree.disconnect)
        self.failures.append(f"share [{share}] is restricted but a guest can open it")


def _open(tree: TreeConnect, name: str) -> Open:
    handle = Open(tree, name)
    handle.create(
        ImpersonationLevel.Impersonation,
        FilePipePrinterAccessMask.FILE_READ_DATA | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    return handle


def _range(flags: int) -> SMB2LockElement:
    element = SMB2LockElement()
    element["offset"] = LOCK_OFFSET
    element["length"] = 1
    element["flags"] = flags
    return element


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SMBResponseException):
        status = int(exc.status)
        names: dict[int, str] = {v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_")}
        names.update(
            {0xC0000054: "STATUS_FILE_LOCK_CONFLICT", 0xC0000055: "STATUS_LOCK_NOT_GRANTED"}
        )
        return names.get(status, f"NT status 0x{status:08x}")
    return str(exc).strip() or type(exc).__name__


def _quietly(call: Any) -> None:
    with contextlib.suppress(SMBException, ValueError, OSError):
        call()


def _close(conn: Connection) -> None:
    with contextlib.suppress(SMBException, ValueError, OSError, AttributeError):
        conn.disconnect(close=True, timeout=1)
