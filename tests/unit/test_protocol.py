"""The wire protocol's records, versions and allowlist (transport/protocol.py), and the
connection side of it (transport/base.py: `Connection.request`, `Pending`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from atlas_ha.errors import ReceiveError, RefusedError, TransportError
from atlas_ha.transport import authority, protocol
from atlas_ha.transport.base import Connection, Pending
from atlas_ha.transport.protocol import (
    OPS,
    PROTOCOL_VERSION,
    BeginAnswer,
    Hello,
    HelloAnswer,
    ReceiveBegin,
    Role,
    SyncUp,
    SyncUpAnswer,
)

WIRE = Path(__file__).parent.parent / "fixtures" / "wire"
WHO = "SEC1 at 192.0.2.12"


class Scripted(Connection):
    """A connection whose partner answers from a script; what was sent is kept."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        super().__init__("SEC1", "192.0.2.12")
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(request)
        return self.raise_for(self.answers.pop(0))

    def push(self, source: Path, dest: str) -> None:
        raise AssertionError("not here")


def recorded_hello_answer(name: str) -> dict[str, Any]:
    """The first answer the PRI read in a recorded conversation: the SEC's hello answer."""
    line = next(li for li in (WIRE / name).read_text().splitlines() if li.startswith("< "))
    answer: dict[str, Any] = json.loads(line[2:])
    return answer


def test_a_peer_that_names_no_version_speaks_1() -> None:
    conn = Scripted(recorded_hello_answer("v1-pri-local.jsonl"))  # an atlas-ha before versions
    answer = conn.request(Hello.offer("mc"))
    assert answer.protocol == 1 and conn.protocol == 1
    assert conn.sent[0]["protocol"] == PROTOCOL_VERSION  # offered all the same
    conn = Scripted(recorded_hello_answer("v2-pri-local.jsonl"))
    conn.request(Hello.offer("mc"))
    assert conn.protocol == 2


def test_an_answer_newer_than_the_offer_is_malformed() -> None:
    conn = Scripted({"ok": True, "role": "SEC1", "env": 1, "protocol": PROTOCOL_VERSION + 1})
    with pytest.raises(ReceiveError, match="answered to an offer of"):
        conn.request(Hello.offer("mc"))
    assert conn.protocol == 1


def test_fields_newer_than_the_peer_are_neither_sent_nor_read() -> None:
    assert "protocol" not in Hello.offer("mc").render(1)
    assert Hello.offer("mc").render(2)["protocol"] == PROTOCOL_VERSION  # what we speak
    assert HelloAnswer(role="SEC1", env=1, protocol=1).render(1) == {"role": "SEC1", "env": 1}
    # read at version 1, a version field is not there: the peer speaks 1
    assert Hello.parse({"master_config": "mc", "protocol": 2}, "w", 1).protocol == 1
    for op in OPS.values():  # every newer field has a default: what an older peer means
        for f in dataclasses.fields(op.request) + dataclasses.fields(op.answer):
            if f.metadata["wire"].since > 1:
                assert f.default is not dataclasses.MISSING, (op.name, f.name)


def test_an_op_newer_than_the_peer_is_not_sent_and_refused_when_received(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    newer = dataclasses.replace(OPS["syncup"], since=PROTOCOL_VERSION + 1)
    monkeypatch.setitem(OPS, "syncup", newer)
    conn = Scripted({"ok": True, "role": "SEC1", "env": 1, "protocol": PROTOCOL_VERSION})
    conn.request(Hello.offer("mc"))
    with pytest.raises(RefusedError, match=f"syncup needs protocol {PROTOCOL_VERSION + 1}"):
        conn.request(SyncUp())
    assert [r["op"] for r in conn.sent] == ["hello"]  # nothing else went out
    with pytest.raises(RefusedError, match=f"this session speaks {PROTOCOL_VERSION}"):
        protocol.op_of({"op": "syncup"}, "192.0.2.11", PROTOCOL_VERSION)


def test_a_syncup_answer_tells_rejections_to_a_peer_of_protocol_3_only() -> None:
    answer = SyncUpAnswer(
        role="SEC1",
        env=1,
        converted_pri=(),
        installed=(),
        created=1,
        converted_down=(),
        sent=(1,),
        rejected=("web: installed but rejected by nginx -t on SEC1 (Env1)",),
    )
    assert answer.render(3)["rejected"] == list(answer.rejected)
    assert "rejected" not in answer.render(2)  # an older PRI never gets a field it does not know
    raw = answer.render(3)
    assert SyncUpAnswer.parse(raw, "w", 2).rejected == ()  # nor reads it at 2
    assert SyncUpAnswer.parse(raw, "w", 3).rejected == answer.rejected
    assert "rejected" not in replace(answer, rejected=()).render(3)  # optional: none, not sent
    with pytest.raises(ReceiveError, match="rejected = a list of findings"):
        SyncUpAnswer.parse({**raw, "rejected": "x"}, "w", 3)


@pytest.mark.parametrize(
    ("answer_type", "raw", "field"),
    [
        (BeginAnswer, {"targets": {"one": "/x"}}, "targets"),
        (BeginAnswer, {"targets": {"1": "/x"}, "current": ["1"]}, "current"),
        (HelloAnswer, {"role": "SEC1", "env": 1, "protocol": "2"}, "protocol"),
        (HelloAnswer, {"role": "root; rm -rf /", "env": 1}, "role"),
        (SyncUpAnswer, {"role": "SEC1", "env": 1}, "converted_pri"),
    ],
)
def test_a_malformed_answer_names_its_field(
    answer_type: type[protocol.Answer], raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(ReceiveError, match=f"^{WHO}: malformed x answer: expected {field} = "):
        answer_type.parse(raw, f"{WHO}: malformed x answer")


def test_a_receive_begin_answer_must_name_the_envs_announced() -> None:
    request = ReceiveBegin(role="PRI", sev=2, envs=(1, 2))
    conn = Scripted({"ok": True, "targets": {"1": "/a"}, "current": []})
    with pytest.raises(ReceiveError, match="malformed receive-begin answer: targets for"):
        conn.request(request)
    conn = Scripted({"ok": True, "targets": {"1": "/a", "2": "/b"}})
    assert conn.request(request) == BeginAnswer(targets={1: "/a", 2: "/b"}, current=())


def test_the_allowlist_says_which_key_may_send_each_op() -> None:
    assert {n: o.authority.name for n, o in OPS.items()} == {
        "role": "ANY",
        "hello": "ANY",
        "receive-begin": "OWN_AREA",
        "receive-delta": "OWN_AREA",
        "receive-objects": "OWN_AREA",
        "receive-commit": "OWN_AREA",
        "syncup": "PRI",
        "pull": "OWN_AREA",
    }
    assert all(name == op.request.OP for name, op in OPS.items())
    assert authority.RECEIVE_OPS == (
        "receive-begin",
        "receive-delta",
        "receive-objects",
        "receive-commit",
    )
    with pytest.raises(RefusedError, match="not an operation of the wire protocol"):
        authority.check_op("PRI", "restore", "PRI", "192.0.2.11")


def test_the_role_request_is_answered_as_a_record() -> None:
    conn = Scripted({"ok": True, "role": "SEC2", "group": "acme", "env": 3})
    assert conn.request(Role()) == protocol.RoleAnswer(role="SEC2", group="acme", env=3)
    assert conn.sent == [{"op": "role"}]


def test_a_pending_connection_raises_what_prevented_it_where_it_is_used() -> None:
    def unreachable() -> Connection:
        raise TransportError("SEC1 at 192.0.2.12: unreachable")

    pending = Pending(unreachable)  # nothing raised yet: the caller goes on with its work
    assert pending.connection is None
    for _ in range(2):
        with pytest.raises(TransportError, match="unreachable"):
            pending.get()
    pending.close()  # nothing to close
    conn = Scripted()
    assert Pending.of(conn).get() is conn
