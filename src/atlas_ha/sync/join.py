"""`atlas-ha join`: the key exchange of two partner roles, like ssh-copy-id but for roles.

A *join token* is one line a server prints and the administrator pastes on its partner::

    atlas-ha-join:1:<base64url of a JSON object>:<first 16 hex digits of its sha256>

The object names the offering disk's group and role, the role's address, its client key
(`SID_DATA/.ssh/id_ed25519.pub`) and its host key (`SID_DATA/.ssh/host_ed25519.pub`), and
whether it is a reply. A token is checked, never trusted: the checksum (a paste cut short or
altered), exactly these fields, the group of this disk, a role that is a partner of this
disk's role, the address this disk's MasterConfig gives that role, keys that parse as OpenSSH
public keys and are not this role's own. Only then is anything written: the partner role's
authorized_keys line (role-bound, `transport.rolekeys.authorize_role_key`) and its host key in
atlas-ha's known_hosts (`transport.hostkeys`). Accepting an offer prints the reply token
(this role's) to paste back; accepting a reply prints nothing more.

With one-time admin access over ssh (`join --ssh ADMIN@HOST`), the offer is sent as the
argument of `atlas-ha join` run there under the administrator's own credentials, and the reply
that command prints is read back and accepted here, checked like a pasted one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, JoinTokenError, TransportError
from atlas_ha.layout.sid import SidData, role_host_key, role_key_file
from atlas_ha.model import ROLE_RE
from atlas_ha.sync.address import own_address
from atlas_ha.system import Runner
from atlas_ha.transport.hostkeys import add_known_host, ensure_role_host_key
from atlas_ha.transport.rolekeys import PublicKey, authorize_role_key, generate_role_key

PREFIX = "atlas-ha-join"
VERSION = "1"
FIELDS = {"group", "role", "address", "key", "host_key", "reply"}
TOKEN_RE = re.compile(r"^atlas-ha-join:([0-9]+):([A-Za-z0-9_-]+={0,2}):([0-9a-f]{16})$")
ADDRESS_RE = re.compile(r"^[0-9A-Za-z.:_-]+$")


@dataclass(frozen=True)
class Offer:
    group: str
    role: str
    address: str
    key: PublicKey
    host_key: PublicKey
    reply: bool

    def token(self) -> str:
        data = {
            "group": self.group,
            "role": self.role,
            "address": self.address,
            "key": f"{self.key.kind} {self.key.blob}",
            "host_key": f"{self.host_key.kind} {self.host_key.blob}",
            "reply": self.reply,
        }
        body = base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()
        return f"{PREFIX}:{VERSION}:{body}:{_checksum(body)}"


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def parse_token(token: str) -> Offer:
    """The offer in `token`, checked for form and damage (not yet against this disk)."""
    match = TOKEN_RE.match(token.strip())
    if not match:
        raise JoinTokenError(
            "join token: expected one line atlas-ha-join:1:<base64>:<checksum> as "
            "`atlas-ha join` printed it on the partner"
        )
    version, body, checksum = match.groups()
    if version != VERSION:
        raise JoinTokenError(f"join token: version {version}, this atlas-ha reads {VERSION}")
    if _checksum(body) != checksum:
        raise JoinTokenError("join token: the checksum does not match (cut short or altered?)")
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
    except (binascii.Error, ValueError) as exc:
        raise JoinTokenError("join token: its body is not base64 JSON") from exc
    if not isinstance(data, dict) or set(data) != FIELDS:
        raise JoinTokenError(f"join token: expected exactly the fields {sorted(FIELDS)}")
    text = {k: v for k, v in data.items() if isinstance(v, str)}
    if set(text) != FIELDS - {"reply"} or not isinstance(data["reply"], bool):
        raise JoinTokenError("join token: group, role, address and keys are text, reply is a flag")
    if not ROLE_RE.match(text["role"]):
        raise JoinTokenError(f"join token: role {text['role']!r}: expected PRI or SEC<n>")
    if not ADDRESS_RE.match(text["address"]):
        raise JoinTokenError(f"join token: address {text['address']!r} is not an address")
    try:
        key = PublicKey.parse(text["key"], "join token key")
        host_key = PublicKey.parse(text["host_key"], "join token host_key")
    except AtlasError as exc:
        raise JoinTokenError(str(exc)) from exc
    return Offer(text["group"], text["role"], text["address"], key, host_key, data["reply"])


def offer(server: Server, reply: bool = False) -> Offer:
    """This role's offer: its client key and host key (each created once), its address."""
    settings = server.settings
    master = SidData(settings.sid_data).master_config()
    key_file = generate_role_key(settings, server.runner)
    key = PublicKey.parse(key_file.read_text(), key_file)
    host_key = ensure_role_host_key(settings, server.runner)
    return Offer(master.group, master.role, own_address(server), key, host_key, reply)


@dataclass(frozen=True)
class Joined:
    role: str  # the partner role accepted
    authorized: str  # its authorized_keys line
    authorized_in: Path
    known_hosts: Path
    reply: str | None  # this role's token to paste on the partner (None: it was a reply)


def accept(server: Server, token: str) -> Joined:
    """Check `token` against this disk, then authorize its role's key and record its host key."""
    got = parse_token(token)
    settings = server.settings
    master = SidData(settings.sid_data).master_config()
    if got.group != master.group:
        raise JoinTokenError(
            f"join token: of group {got.group!r}, this disk's group is {master.group!r}"
        )
    if got.role == master.role or got.role not in master.partners:
        raise JoinTokenError(
            f"join token: of {got.role}, not a partner of this disk's role {master.role} "
            f"(partners: {', '.join(sorted(master.partners)) or 'none'})"
        )
    expected = master.partners[got.role].address
    if got.address != expected:
        raise JoinTokenError(
            f"join token: {got.role} at {got.address}, but this disk's MasterConfig gives "
            f"{got.role} the address {expected}"
        )
    own_pub = role_key_file(settings.sid_data).with_suffix(".pub")
    if own_pub.exists() and PublicKey.parse(own_pub.read_text(), own_pub).blob == got.key.blob:
        raise JoinTokenError("join token: its key is this role's own (pasted on the wrong side?)")
    if got.key.blob == got.host_key.blob:
        raise JoinTokenError("join token: its client key and host key are the same key")
    own_host = role_host_key(settings.sid_data).with_suffix(".pub")
    if own_host.exists() and PublicKey.parse(own_host.read_text(), own_host).blob in (
        got.host_key.blob,
        got.key.blob,
    ):
        raise JoinTokenError("join token: it carries this role's own host key")
    mine = offer(server, reply=True)  # every check passed: this role's keys (created once)
    done = authorize_role_key(settings, got.role, got.key, None)
    known = add_known_host(settings, got.role, got.host_key)
    return Joined(got.role, done.line, done.path, known, None if got.reply else mine.token())


def join_over_ssh(
    server: Server, target: str, remote_config: str | None, runner: Runner
) -> tuple[str, Joined]:
    """With one-time admin access: run `atlas-ha join OFFER` on `target` (ADMIN@HOST) as the
    administrator (their own ssh credentials, asked for by ssh as usual), read the reply token
    it prints and accept it here. Returns (what the partner printed, what was accepted)."""
    mine = offer(server).token()
    remote = ["atlas-ha", *(["--config", remote_config] if remote_config else []), "join", mine]
    argv = ["ssh", "-o", "ConnectTimeout=10", target, shlex.join(remote)]
    result = runner.run(argv, check=False, timeout=120)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip()[-400:]
        raise TransportError(f"join on {target} failed (exit {result.returncode}): {said}")
    tokens = [w for w in result.stdout.split() if w.startswith(f"{PREFIX}:")]
    if len(tokens) != 1:
        raise JoinTokenError(f"join on {target}: expected one reply token in its output")
    return result.stdout, accept(server, tokens[0])


def describe(data: Any) -> str:
    """One line naming a token's role, address and key fingerprint (for the administrator)."""
    got = parse_token(str(data))
    digest = hashlib.sha256(base64.b64decode(got.key.blob)).digest()
    fingerprint = base64.b64encode(digest).decode().rstrip("=")
    return f"{got.role} of {got.group} at {got.address}, key SHA256:{fingerprint}"
