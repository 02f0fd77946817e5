"""The wire protocol: every request a partner may send, as typed records, and its version.

A session is JSON lines: one request (`{"op": NAME, ...fields}`), one answer (`{"ok": true,
...fields}` or `{"ok": false, "class": ..., "error": ...}`); in a send back the SEC's
requests to the PRI travel as `{"callback": {...}}` lines inside the PRI's own session
(`sync.sendback`). `OPS` is the allowlist: for each operation its request and answer
records, which key role may send it (`Authority`, checked by `transport.authority`), whether
it is answered before hello, in a session a partner opened, or as a callback of a send back,
and the protocol version that introduced it. Anything else is refused, naming the operation
and the operations this side knows. Every field is checked when a record is parsed (its
type and shape; what it means, e.g. whether the EnvVersions fit this server, is checked by
the code that uses it): a malformed request is refused (RefusedError; a malformed payload,
ReceiveError) and a malformed answer is a ReceiveError, each naming the field.

Versions (SPEC 7.5: versions stay compatible backward and forward). `hello` carries
`"protocol": N` both ways; the rule:

* the newer side holds the compatibility knowledge: an older one need not know that newer
  versions exist;
* a peer that sends no version speaks 1 (every atlas-ha before versions: protocol 1 is
  exactly what they speak, the operations and fields below marked since 1);
* hello is rendered at this side's own version (it is the only request sent before the
  version is known; an older server ignores hello fields it does not know, as version 1
  does); the server answers with min(own, peer's) and from then on both speak that: a
  field introduced later is neither sent nor read (`Wire.since`), an operation introduced
  later is not sent (`Op.since`; refused when received), so an older peer never gets a
  field or an operation it does not know;
* a newer field has a default that means what the older protocol did without it.

Protocol 2 adds only the version itself (`protocol` in hello and its answer); everything
else belongs to 1. Protocol 3 adds `rejected` to the SyncUp answer (the SEC's configuration
checkers that refused what was installed; an older SEC reports none: nothing was checked).
The compatibility kept with older atlas-ha before versions (a partner
without the `role` request, or without delta send, answers "unknown operation") stays where
it is used (`verifier.kinds.sentry`, `sync.delta`).

Pure: no I/O, no server state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from typing import Any, ClassVar, Generic, Self, TypeVar

from atlas_ha.errors import AtlasError, ReceiveError, RefusedError
from atlas_ha.transport.wirefields import (
    Malformed,
    Wire,
    digest_map,
    env_version,
    env_versions,
    flag,
    need_or_none,
    next_op,
    object_list,
    role_name,
    role_name_or_none,
    strings,
    target_map,
    text,
    version,
    wire,
)

PROTOCOL_VERSION = 3
UNVERSIONED = 1  # what a peer that names no version speaks
SHOWN = 120  # characters of a malformed value shown in a refusal


# -- records ------------------------------------------------------------------------------------
def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= SHOWN else shown[:SHOWN] + "..."


def _plain(value: object) -> object:
    """The JSON form of a field's value."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _default(f: dataclasses.Field[Any]) -> object:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@dataclass(frozen=True, kw_only=True)
class Record:
    """A request or an answer; its fields are `wire(...)` fields."""

    ERROR: ClassVar[type[AtlasError]] = RefusedError

    @classmethod
    def parse(cls, raw: Mapping[str, object], where: str, speaks: int = PROTOCOL_VERSION) -> Self:
        """The record in `raw` (fields of a protocol newer than `speaks` are not read; unknown
        fields are ignored), or refuse naming the field: "`where`: expected ..., got ..."."""
        values = {}
        for f in dataclasses.fields(cls):
            if f.metadata["wire"].since > speaks:
                continue
            if f.name in raw or _default(f) is MISSING:
                # a required field that is missing is checked as null
                values[f.name] = cls._checked(f, raw.get(f.name), where)
        return cls(**values)

    @classmethod
    def peek(cls, raw: Mapping[str, object], name: str, where: str) -> Any:
        """One field of `raw`, checked (None when absent): what must be known before the
        whole record is read (the role a request acts on, for the authority check)."""
        (f,) = [f for f in dataclasses.fields(cls) if f.name == name]
        return cls._checked(f, raw[name], where) if name in raw else None

    @classmethod
    def _checked(cls, f: dataclasses.Field[Any], value: object, where: str) -> Any:
        spec: Wire = f.metadata["wire"]
        try:
            return spec.check(value)
        except Malformed:
            error = spec.error or cls.ERROR
            raise error(f"{where}: expected {spec.expected}, got {_shown(value)}") from None

    def render(self, speaks: int) -> dict[str, Any]:
        """The fields as sent to a peer that speaks `speaks`."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            spec: Wire = f.metadata["wire"]
            value = getattr(self, f.name)
            if spec.since > speaks or (spec.optional and value == _default(f)):
                continue
            out[f.name] = _plain(value)
        return out


class Answer(Record):
    ERROR = ReceiveError  # received data that failed validation


A = TypeVar("A", bound=Answer)


class Request(Record, Generic[A]):
    OP: ClassVar[str]
    NEGOTIATES: ClassVar[bool] = False  # rendered at our own version, before the peer's is known

    def render(self, speaks: int) -> dict[str, Any]:
        since = OPS[self.OP].since
        if since > speaks:
            raise RefusedError(
                f"{self.OP} needs protocol {since}; the peer speaks {speaks}: not sent"
            )
        return {"op": self.OP, **super().render(speaks)}

    def read_answer(self, raw: Mapping[str, object], who: str, speaks: int) -> A:
        """The answer to this request from `who` ("ROLE at ADDRESS"), checked."""
        answer_type: type[A] = OPS[self.OP].answer  # type: ignore[assignment]
        answer = answer_type.parse(raw, f"{who}: malformed {self.OP} answer", speaks)
        self.check_answer(answer, f"{who}: malformed {self.OP} answer")
        return answer

    def check_answer(self, answer: A, where: str) -> None:
        """What an answer must agree on with this request (none, unless a request says)."""


# -- answers ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Empty(Answer):
    pass


@dataclass(frozen=True, kw_only=True)
class RoleAnswer(Answer):
    role: str = wire(role_name, "role = PRI or SEC<n>")
    group: str = wire(text, "group = the group's name")
    env: int = wire(env_version, "env = the server's EnvID")


@dataclass(frozen=True, kw_only=True)
class HelloAnswer(Answer):
    role: str = wire(role_name, "role = PRI or SEC<n>")
    env: int = wire(env_version, "env = the server's EnvID")
    protocol: int = wire(version, "protocol = a positive version", since=2, default=UNVERSIONED)


@dataclass(frozen=True, kw_only=True)
class BeginAnswer(Answer):
    targets: Mapping[int, str] = wire(target_map, "targets = {EnvVersion: directory}")
    current: tuple[int, ...] = wire(env_versions, "current = a list of EnvVersions", default=())


@dataclass(frozen=True, kw_only=True)
class DeltaAnswer(Answer):
    """`need`: the objects to send; `full` (or no `need`): push the whole area instead."""

    full: bool = wire(flag, "full = true or false", optional=True, default=False)
    need: tuple[tuple[str, str], ...] | None = wire(
        need_or_none, "need = a list of [tree, path]", optional=True, default=None
    )


@dataclass(frozen=True, kw_only=True)
class CommitAnswer(Answer):
    flagged: tuple[str, ...] = wire(strings, "flagged = a list of findings", default=())


@dataclass(frozen=True, kw_only=True)
class SyncUpAnswer(Answer):
    role: str = wire(role_name, "role = PRI or SEC<n>")
    env: int = wire(env_version, "env = the SEC's EnvID")
    converted_pri: tuple[int, ...] = wire(env_versions, "converted_pri = a list of EnvVersions")
    installed: tuple[str, ...] = wire(strings, "installed = a list of paths")
    created: int = wire(env_version, "created = an EnvVersion")
    converted_down: tuple[int, ...] = wire(env_versions, "converted_down = a list of EnvVersions")
    sent: tuple[int, ...] = wire(env_versions, "sent = a list of EnvVersions")
    rejected: tuple[str, ...] = wire(
        strings, "rejected = a list of findings", since=3, optional=True, default=()
    )


# -- requests -----------------------------------------------------------------------------------
ROLE_FIELD = "role = the role of the snapshot (PRI or SEC<n>)"


@dataclass(frozen=True, kw_only=True)
class Role(Request[RoleAnswer]):
    OP = "role"


@dataclass(frozen=True, kw_only=True)
class Hello(Request[HelloAnswer]):
    OP = "hello"
    NEGOTIATES = True

    master_config: str = wire(text, "master_config = the sender's MasterConfig as text")
    next: str | None = wire(next_op, 'next = "syncup" or nothing', optional=True, default=None)
    reverse: bool = wire(flag, "reverse = true or false", optional=True, default=False)
    protocol: int = wire(version, "protocol = a positive version", since=2, default=UNVERSIONED)

    @classmethod
    def offer(cls, master_config: str, *, next: str | None = None, reverse: bool = False) -> Hello:
        """The hello this side sends: its MasterConfig, and the version it speaks."""
        return cls(
            master_config=master_config, next=next, reverse=reverse, protocol=PROTOCOL_VERSION
        )

    def check_answer(self, answer: HelloAnswer, where: str) -> None:
        if answer.protocol > self.protocol:
            raise ReceiveError(
                f"{where}: protocol {answer.protocol} answered to an offer of {self.protocol}"
            )


@dataclass(frozen=True, kw_only=True)
class ReceiveBegin(Request[BeginAnswer]):
    OP = "receive-begin"

    role: str | None = wire(role_name_or_none, ROLE_FIELD, optional=True, default=None)
    sev: int = wire(env_version, "sev = a positive EnvVersion")
    envs: tuple[int, ...] = wire(env_versions, "envs = a list of positive EnvVersions")
    digests: Mapping[str, str] = wire(
        digest_map, "digests = {env: sha256 hex digest}", factory=dict
    )

    def check_answer(self, answer: BeginAnswer, where: str) -> None:
        if set(answer.targets) != set(self.envs):
            raise ReceiveError(
                f"{where}: targets for EnvVersions {sorted(answer.targets)}, "
                f"asked for {sorted(self.envs)}"
            )


@dataclass(frozen=True, kw_only=True)
class ReceiveDelta(Request[DeltaAnswer]):
    OP = "receive-delta"

    role: str | None = wire(role_name_or_none, ROLE_FIELD, optional=True, default=None)
    env: int = wire(env_version, "env = a positive EnvVersion")
    manifest: str = wire(text, "manifest = the new Manifest, zlib + base64", error=ReceiveError)


@dataclass(frozen=True, kw_only=True)
class ReceiveObjects(Request[Empty]):
    OP = "receive-objects"

    role: str | None = wire(role_name_or_none, ROLE_FIELD, optional=True, default=None)
    env: int = wire(env_version, "env = a positive EnvVersion")
    objects: tuple[tuple[str, str, str], ...] = wire(
        object_list, "a list of [tree, path, base64] objects", error=ReceiveError
    )


@dataclass(frozen=True, kw_only=True)
class ReceiveCommit(Request[CommitAnswer]):
    OP = "receive-commit"

    role: str | None = wire(role_name_or_none, ROLE_FIELD, optional=True, default=None)
    sev: int = wire(env_version, "sev = a positive EnvVersion")
    envs: tuple[int, ...] = wire(env_versions, "envs = a list of positive EnvVersions")


@dataclass(frozen=True, kw_only=True)
class SyncUp(Request[SyncUpAnswer]):
    OP = "syncup"

    allow_mass_deletion: bool = wire(
        flag, "allow_mass_deletion = true or false", optional=True, default=False
    )
    reverse: bool = wire(flag, "reverse = true or false", optional=True, default=False)


@dataclass(frozen=True, kw_only=True)
class Pull(Request[Empty]):
    OP = "pull"

    env: int = wire(env_version, "env = a positive EnvVersion")


# -- the allowlist ------------------------------------------------------------------------------
class Authority(Enum):
    """Which key role may send an operation (`transport.authority.check_op`)."""

    ANY = "any partner role's key (hello: with that role's own MasterConfig)"
    OWN_AREA = "a role's key, for that role's own snapshot only"
    PRI = "the PRI's key only"


@dataclass(frozen=True)
class Op:
    request: type[Request[Any]]
    answer: type[Answer]
    authority: Authority
    since: int = 1  # the protocol version that introduced it
    before_hello: bool = False  # answered before hello
    session: bool = True  # requested in a session a partner opened
    callback: bool = False  # requested back by a SEC sending back over the PRI's connection

    @property
    def name(self) -> str:
        return self.request.OP


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(Role, RoleAnswer, Authority.ANY, before_hello=True),
        Op(Hello, HelloAnswer, Authority.ANY, before_hello=True, callback=True),
        Op(ReceiveBegin, BeginAnswer, Authority.OWN_AREA, callback=True),
        Op(ReceiveDelta, DeltaAnswer, Authority.OWN_AREA, callback=True),
        Op(ReceiveObjects, Empty, Authority.OWN_AREA, callback=True),
        Op(ReceiveCommit, CommitAnswer, Authority.OWN_AREA, callback=True),
        Op(SyncUp, SyncUpAnswer, Authority.PRI),
        Op(Pull, Empty, Authority.OWN_AREA, session=False, callback=True),
    )
}


def op_of(request: Mapping[str, object], where: str, speaks: int = PROTOCOL_VERSION) -> Op:
    """The operation a session request names, or refuse: "unknown operation" naming it and
    the operations this side knows (an older partner's refusal said the same first words)."""
    name = request.get("op")
    op = OPS.get(name) if isinstance(name, str) else None
    if op is None or not op.session:
        known = ", ".join(sorted(n for n, o in OPS.items() if o.session))
        raise RefusedError(
            f"unknown operation {name!r:.40} from {where}: this atlas-ha speaks protocol "
            f"{PROTOCOL_VERSION} and knows {known}"
        )
    if op.since > speaks:
        raise RefusedError(
            f"{op.name} from {where} needs protocol {op.since}; this session speaks {speaks}"
        )
    return op


def negotiated(offered: int) -> int:
    """The version a server speaks with a peer that offered `offered`."""
    return min(PROTOCOL_VERSION, offered)


def callback_op(request: Mapping[str, object]) -> Op | None:
    """The operation a send back's callback names, if one a callback may be."""
    name = request.get("op")
    op = OPS.get(name) if isinstance(name, str) else None
    return op if op is not None and op.callback else None
