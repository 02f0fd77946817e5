"""The `ssh` verifier: handshake, the role's host key, and a login with the verifier key.

Three steps against the target's address, each within what is left of the timeout:

1. TCP connect and the server's identification string (`SSH-2.0-...`, RFC 4253 4.2);
2. the host key presented there (ssh-keyscan) must be the host key of the target's *role*:
   the key known_hosts holds under the alias `atlas-<ROLE>`, as the ssh transport checks it
   (the role's host key travels with the role). A server answering the address with
   another role's key is named ("presents the host key of atlas-SEC1");
3. a login with the verifier key (OpenSSH `ssh`, BatchMode, StrictHostKeyChecking against
   the same alias) runs the verifier's forced command, which only prints VERIFIER_ANSWER.

The verifier key is ESD_DATA/ssh/verifier_ed25519 (`atlas-ha keys verifier-key` creates it);
each partner accepts it with `atlas-ha keys authorize-verifier PUBKEY`, which writes an
authorized_keys line restricted to printing the fixed answer, nothing else.

Options (services file, [service.NAME.options]), all optional::

    port = 22            # default: the partner's ssh_port, else the transport's port, else 22
    user = "root"        # default: the partner's ssh_user, else the transport's user
    key = "/path/to/verifier_ed25519"
    known_hosts = "/path/to/known_hosts"    # default: the transport's known_hosts
    login = true         # false: handshake and host key only

Measured: `connect`, `banner`, `hostkey`, `login` (seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from atlas_ha.errors import AtlasError
from atlas_ha.layout.esd import server_known_hosts, server_ssh_dir
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Measurement, Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef

VERIFIER_ANSWER = "atlas-ha-verifier-ok"
VERIFIER_KEY = "verifier_ed25519"
MAX_BANNER_BYTES = 8192
KEYSCAN_TYPES = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ssh-dss": "dsa"}


def verifier_authorized_line(pubkey_text: str) -> str:
    """The authorized_keys line for a partner's verifier key: it can only print the answer."""
    parts = pubkey_text.split()
    if len(parts) < 2 or not (parts[0].startswith("ssh-") or parts[0].startswith("ecdsa-")):
        raise ValueError("expected an OpenSSH public key line")
    comment = " ".join(parts[2:])
    return f'command="echo {VERIFIER_ANSWER}",restrict {parts[0]} {parts[1]} {comment}'.strip()


@dataclass(frozen=True)
class KnownKey:
    alias: str  # the first host pattern of the line (atlas-<ROLE>), or "(hashed)"
    keytype: str
    blob: str
    revoked: bool = False


def known_keys(text: str, host: str) -> list[KnownKey]:
    """The known_hosts entries that apply to `host` (plain or hashed patterns, @revoked)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if len(fields) < 3 or marker not in ("", "@revoked"):
            continue
        patterns, keytype, blob = fields[0], fields[1], fields[2]
        if _matches(patterns, host):
            alias = "(hashed)" if patterns.startswith("|") else patterns.split(",")[0]
            found.append(KnownKey(alias, keytype, blob, marker == "@revoked"))
    return found


def owners(text: str, keytype: str, blob: str) -> list[str]:
    """The plain host patterns whose known key is (keytype, blob): who this key belongs to."""
    names = []
    for line in text.splitlines():
        fields = line.split()
        plain = len(fields) >= 3 and not fields[0].startswith(("#", "@", "|"))
        if plain and (fields[1], fields[2]) == (keytype, blob):
            names.extend(fields[0].split(","))
    return names


def _matches(patterns: str, host: str) -> bool:
    if patterns.startswith("|1|"):
        try:
            _empty, _one, salt, digest = patterns.split("|")
            # OpenSSH hashes the lower-cased name
            mac = hmac.new(base64.b64decode(salt), host.lower().encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except ValueError:
            return False
    return host.lower() in (p.lower() for p in patterns.split(","))


class SshCheck:
    """One run of the three steps; `failures` and `times` collect what happened."""

    def __init__(self, ctx: Context, service: ServiceDef, target: Target) -> None:
        settings = ctx.server.settings
        transport: dict[str, Any] = dict(settings.transport_options)
        opts: dict[str, Any] = service.options
        ssh_dir = server_ssh_dir(settings.esd_data)
        self.ctx, self.target = ctx, target
        self.alias = f"atlas-{target.role}"
        self.port = int(opts.get("port") or target.ssh_port or transport.get("port") or 22)
        self.user = str(opts.get("user") or target.ssh_user or transport.get("user") or "root")
        self.key = Path(opts.get("key", ssh_dir / VERIFIER_KEY))
        self.known_hosts = Path(
            opts.get(
                "known_hosts", transport.get("known_hosts", server_known_hosts(settings.esd_data))
            )
        )
        self.login_wanted = bool(opts.get("login", True))
        self.deadline = time.monotonic() + service.timeout
        self.timeout = service.timeout
        self.where = f"ssh {target.role} at {target.address}:{self.port}"
        self.failures: list[str] = []
        self.unknown: list[str] = []
        self.times: list[tuple[str, float]] = []
        self.details: list[str] = []

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def banner(self) -> str:
        started = time.monotonic()
        with socket.create_connection(
            (self.target.address, self.port), timeout=self.remaining()
        ) as sock:
            self.times.append(("connect", time.monotonic() - started))
            data = b""
            while (line := _ident_line(data)) is None:
                sock.settimeout(self.remaining())
                chunk = sock.recv(1024)
                if not chunk:
                    raise ConnectionError("closed before its identification string")
                data += chunk
                if len(data) > MAX_BANNER_BYTES:
                    raise ConnectionError("no identification string in the first 8 KB")
            sock.sendall(b"SSH-2.0-atlas-ha-verifier\r\n")
        self.times.append(("banner", time.monotonic() - started))
        ident = line.rstrip(b"\r").decode("ascii", "replace")[:255]
        if not ident.startswith(("SSH-2.0-", "SSH-1.99-")):
            self.failures.append(f"{self.where}: unsupported protocol {ident!r}")
        return ident

    def host_key(self) -> None:
        try:
            known_text = self.known_hosts.read_text()
        except OSError as exc:
            self.unknown.append(f"{self.known_hosts}: cannot read ({exc.strerror})")
            return
        expected = known_keys(known_text, self.alias)
        types = sorted({KEYSCAN_TYPES.get(k.keytype, "ecdsa") for k in expected})
        if not [k for k in expected if not k.revoked]:
            self.failures.append(f"{self.where}: {self.known_hosts} has no key for {self.alias}")
            return
        presented = self.keyscan(types)
        if presented is None:
            return
        good = {(k.keytype, k.blob) for k in expected if not k.revoked}
        revoked = {(k.keytype, k.blob) for k in expected if k.revoked}
        if presented & revoked:
            self.failures.append(f"{self.where}: presents a revoked host key")
        elif not presented & good:
            self.failures.append(f"{self.where}: {self.wrong_key(known_text, presented)}")

    def keyscan(self, types: list[str]) -> set[tuple[str, str]] | None:
        started = time.monotonic()
        wait = max(1, int(self.remaining()))
        argv = ["ssh-keyscan", "-T", str(wait), "-p", str(self.port), "-t", ",".join(types)]
        try:
            done = self.ctx.server.runner.run(
                [*argv, self.target.address], timeout=self.remaining(), check=False
            )
        except AtlasError as exc:
            self.failures.append(f"{self.where}: host key scan: {exc}")
            return None
        self.times.append(("hostkey", time.monotonic() - started))
        presented = set()
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 3 and not fields[0].startswith("#"):
                presented.add((fields[1], fields[2]))
        if not presented:
            self.failures.append(f"{self.where}: no host key presented ({', '.join(types)})")
            return None
        self.details.append("host keys presented: " + ", ".join(t for t, _b in sorted(presented)))
        return presented

    def wrong_key(self, known_text: str, presented: set[tuple[str, str]]) -> str:
        for keytype, blob in sorted(presented):
            others = [o for o in owners(known_text, keytype, blob) if o != self.alias]
            if others:
                return (
                    f"presents the host key of {', '.join(others)}, not {self.alias}'s: "
                    "another server answers this role's address"
                )
        return f"presents an unknown host key, not {self.alias}'s"

    def login(self) -> None:
        if not self.key.exists():
            self.unknown.append(f"no verifier key {self.key} (run `atlas-ha keys verifier-key`)")
            return
        started = time.monotonic()
        connect = max(1, int(self.remaining()))
        argv = [
            "ssh", "-F", "none", "-i", str(self.key), "-p", str(self.port),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect}", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", f"HostKeyAlias={self.alias}",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR",
            f"{self.user}@{self.target.address}", "atlas-ha-verify",
        ]  # fmt: skip
        try:
            done = self.ctx.server.runner.run(
                argv, timeout=self.remaining(), check=False, input_text=""
            )
        except AtlasError as exc:
            self.failures.append(f"{self.where}: login: {exc}")
            return
        self.times.append(("login", time.monotonic() - started))
        answer = done.stdout.strip()
        if done.returncode != 0 or answer != VERIFIER_ANSWER:
            why = (done.stderr.strip().splitlines() or [f"answer {answer[:80]!r}"])[-1]
            self.failures.append(
                f"{self.where}: login with the verifier key failed (exit {done.returncode}): {why}"
            )


def _ident_line(data: bytes) -> bytes | None:
    """The server's identification line once it is complete (other lines may precede it)."""
    for line in data.split(b"\n")[:-1]:
        if line.startswith(b"SSH-"):
            return line
    return None


class SshVerifier(Verifier):
    kind: ClassVar[str] = "ssh"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        try:
            check = SshCheck(ctx, service, target)
        except (TypeError, ValueError) as exc:
            return Profile(Status.UNKNOWN, f"service {service.name}: bad options: {exc}")
        ident = ""
        try:
            ident = check.banner()
            check.host_key()
            if check.login_wanted and not check.failures:
                check.login()
        except TimeoutError:
            check.failures.append(f"{check.where}: no answer within {service.timeout:g} s")
        except OSError as exc:
            check.failures.append(f"{check.where}: {exc.strerror or exc}")
        measured = [judged(label, v, "s", service.thresholds) for label, v in check.times]
        return self.profile(check, ident, measured)

    def profile(
        self, check: SshCheck, ident: str, measured: list[tuple[Measurement, Status]]
    ) -> Profile:
        details = "\n".join([f"identification: {ident}", *check.details, *check.unknown])
        data = {"identification": ident, "alias": check.alias}
        if check.unknown and not check.failures:
            summary = f"{check.where}: " + "; ".join(check.unknown)
            return Profile(Status.UNKNOWN, summary, tuple(m for m, _s in measured), details, data)
        done = "login ok" if check.login_wanted else "host key ok"
        ok = f"{check.where}: {ident}, {check.alias} host key, {done}"
        return from_checks(check.failures, ok, measured, details, data)
