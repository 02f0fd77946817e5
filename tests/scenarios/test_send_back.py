"""A SEC's send back over the PRI's own connection (sync.sendback), both ends in
process: the SEC's session with scripted PRI answers, the PRI's handler with a recording
connection. The same exchange over OpenSSH is in tests/lab/test_ssh_transport.py."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from atlas_ha.context import Server
from atlas_ha.errors import ReceiveError, RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.layout.sid import send_grant_file
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.receive import manifest_digest
from atlas_ha.sync.sendback import SendBackHandler
from atlas_ha.sync.serve import Session
from atlas_ha.transport.base import Connection

Cycle = Callable[[str], CycleReport]
SEC1 = ADDRESSES["SEC1"]


def quiet(_line: str) -> None:
    pass


class Puller(Connection):
    """The PRI's connection to B: `pull` copies from B's own SEC1 area, then `tamper` runs."""

    can_pull = True

    def __init__(self, area_root: Path, tamper: Callable[[Path], None] | None = None) -> None:
        super().__init__("SEC1", SEC1)
        self.area_root = area_root
        self.tamper = tamper
        self.pulls: list[str] = []

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the handler never calls the SEC")

    def push(self, source: Path, dest: str) -> None:
        raise AssertionError("the handler never pushes")

    def pull(self, source: str, dest: Path) -> None:
        self.pulls.append(source)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.area_root / source.rstrip("/"), dest, symlinks=True)
        if self.tamper:
            self.tamper(dest)


def servers(group: SimGroup) -> tuple[Server, Server]:
    return group.servers["A"].server(quiet), group.servers["B"].server(quiet)


def begin(handler: SendBackHandler, b: Server, digests: dict[str, str]) -> dict[str, Any]:
    handler({"op": "hello", "master_config": b.master().render()})
    request = {"op": "receive-begin", "role": "SEC1", "sev": 1, "envs": [1], "digests": digests}
    return handler(request)


def test_the_pri_receives_a_send_back_and_validates_it(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a, b = servers(group)
    shutil.rmtree(a.sid.area("SEC1", 1).path)  # so that Env1 must come over again
    conn = Puller(b.sid.root / "SEC1")
    handler = SendBackHandler(a, conn)
    answer = begin(handler, b, {})
    assert answer["current"] == [] and not a.sid.is_valid("SEC1", 1)
    handler({"op": "pull", "env": 1})
    handler({"op": "receive-commit", "role": "SEC1", "sev": 1, "envs": [1]})
    assert conn.pulls == ["Env1/"]
    assert a.sid.sev("SEC1") == 1 and a.sid.is_valid("SEC1", 1)
    assert manifest_digest(a.sid.area("SEC1", 1)) == manifest_digest(b.sid.area("SEC1", 1))


def test_the_pri_pulls_only_what_its_receive_granted(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a, b = servers(group)
    conn = Puller(b.sid.root / "SEC1")
    handler = SendBackHandler(a, conn)
    with pytest.raises(RefusedError, match="not an area this receive granted"):
        handler({"op": "pull", "env": 1})  # before any receive-begin
    for op in ("syncup", "role", "restore"):
        with pytest.raises(RefusedError, match="not part of a send back"):
            handler({"op": op})
    with pytest.raises(RefusedError, match="before hello"):
        handler({"op": "receive-begin", "role": "SEC1", "sev": 1, "envs": [1]})
    handler({"op": "hello", "master_config": b.master().render()})
    with pytest.raises(RefusedError, match="may send only SEC1's snapshot"):
        handler({"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]})
    # B's area is the one A holds: found current, so it may not be written before commit
    digest = manifest_digest(b.sid.area("SEC1", 1))
    answer = begin(handler, b, {"1": digest})
    assert answer["current"] == [1]
    for env in (1, "1", 2, -1, None):
        with pytest.raises(RefusedError, match="not an area this receive granted"):
            handler({"op": "pull", "env": env})
    assert conn.pulls == []
    handler({"op": "receive-commit", "role": "SEC1", "sev": 1, "envs": [1]})
    assert a.sid.is_valid("SEC1", 1)


def test_a_hostile_pulled_area_is_refused_at_commit(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a, b = servers(group)

    def plant(dest: Path) -> None:
        (dest / "SyncFiles/etc/planted").write_text("not in the Manifest\n")

    handler = SendBackHandler(a, Puller(b.sid.root / "SEC1", tamper=plant))
    begin(handler, b, {})
    handler({"op": "pull", "env": 1})
    with pytest.raises(ReceiveError, match="planted"):
        handler({"op": "receive-commit", "role": "SEC1", "sev": 1, "envs": [1]})
    assert not a.sid.is_valid("SEC1", 1) and a.sid.sev("SEC1") is None


class ScriptedPri(io.StringIO):
    """The PRI's side of B's session: answers each callback in turn, noting the send grant
    B holds for the PRI at that moment."""

    def __init__(self, b: Server, answers: list[dict[str, Any]]) -> None:
        super().__init__()
        self.grant = send_grant_file(b.sid.root, ADDRESSES["PRI"])
        self.answers = answers
        self.grants: list[Any] = []

    def readline(self, size: int | None = -1) -> str:
        self.grants.append(json.loads(self.grant.read_text()) if self.grant.exists() else None)
        return json.dumps({"ok": True, **self.answers.pop(0)}) + "\n"


def test_the_sec_sends_back_over_the_session_it_serves(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a, b = servers(group)
    pri = ScriptedPri(
        b,
        [
            {"role": "PRI", "env": 2},
            {"targets": {"1": "/elsewhere/SEC1/Env1"}, "current": []},
            {"full": True},  # receive-delta: the PRI wants the whole area
            {},  # the pull
            {},  # receive-commit
        ],
    )
    out = io.StringIO()
    s = Session(b, ADDRESSES["PRI"], pri, out, key_role="PRI")
    s.handle({"op": "hello", "master_config": a.master().render(), "reverse": True})
    assert s.back is None  # no connection of its own to the PRI
    reply = s.handle({"op": "syncup", "reverse": True})
    s.close()
    callbacks = [json.loads(line)["callback"] for line in out.getvalue().splitlines()]
    ops = ["hello", "receive-begin", "receive-delta", "pull", "receive-commit"]
    assert [c["op"] for c in callbacks] == ops
    assert callbacks[3] == {"op": "pull", "env": 1}
    # the grant lets the PRI read exactly the one area, only while the pull is answered
    assert pri.grants[3] is not None and (pri.grants[3]["role"], pri.grants[3]["envs"]) == (
        "SEC1",
        [1],
    )
    assert pri.grants[:3] == [None, None, None] and pri.grants[4] is None
    assert not pri.grant.exists()
    assert reply["sent"] == [1] and reply["role"] == "SEC1"
