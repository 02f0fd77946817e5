"""The wire protocol across versions (transport/protocol.py): recorded conversations of a PRI
with SEC1 in a steady cycle (tests/fixtures/wire, made by tests/fixtures/record_wire.py) are
replayed, line for line as recorded, into SEC1's `serve` of today's code.

* v1: what an atlas-ha from before protocol versions sent (commit 4af0145). It is served:
  every answer ok, SEC1 installs the PRI's change, and no answer carries a field a v1 PRI
  did not get from a v1 SEC (the hello answer names no protocol). In the `reverse` variant
  SEC1 sends back over the PRI's connection: its callbacks are those a v1 SEC sent (hello
  adds only the version it offers, which a v1 PRI ignores), answered by the recorded v1 PRI.
* v2: what today's PRI sends; both sides agree on protocol 2.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from atlas_ha.errors import RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup, demo_envs
from atlas_ha.layout.esd import EnvDef
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.serve import Session, serve
from atlas_ha.transport.protocol import PROTOCOL_VERSION

Cycle = Callable[[str], CycleReport]
WIRE = Path(__file__).parent.parent / "fixtures" / "wire"
CHANGED = "level = 9  # changed on the PRI\n"  # what the recorded cycle brings to SEC1


def quiet(_line: str) -> None:
    pass


def recorded_envs(top: int) -> dict[int, EnvDef]:
    """The environments of the recorded group: without the chrony aspect, added since (its
    files would change what SEC1 holds, and so the deltas the recorded PRI sends)."""
    return {
        v: replace(e, formats={k: f for k, f in e.formats.items() if k != "chrony"})
        for v, e in demo_envs(top).items()
    }


@pytest.fixture
def group(tmp_path: Path) -> SimGroup:
    """The recorded group (A Env2 PRI, B Env1 SEC1, C Env3 SEC2), set up and booted."""
    g = SimGroup(tmp_path / "group", envs=recorded_envs)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    return g


def transcript(name: str) -> list[tuple[str, str]]:
    """(direction, exact line) of a recording: ">" the PRI wrote, "<" the PRI read."""
    lines = (WIRE / name).read_text().splitlines()
    return [(line[:1], line[2:]) for line in lines]


def messages(lines: list[tuple[str, str]], direction: str) -> list[dict[str, Any]]:
    return [json.loads(text) for d, text in lines if d == direction]


def replay(group: SimGroup, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run SEC1's (B's) session, as its forced command does for the PRI's key, on exactly the
    lines the recorded PRI wrote; return what the session wrote and what had been recorded."""
    lines = transcript(name)
    b = group.servers["B"].server(quiet)
    feed = io.StringIO("".join(text + "\n" for d, text in lines if d == ">"))
    out = io.StringIO()
    assert serve(b, ADDRESSES["PRI"], "PRI", feed, out) == 0
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    return written, messages(lines, "<")


def keys(items: list[dict[str, Any]]) -> list[list[str]]:
    return [sorted(item.get("callback", item)) for item in items]


@pytest.mark.parametrize("variant", ["local", "reverse"])
def test_a_v1_pri_is_served(group: SimGroup, run_cycle: Cycle, variant: str) -> None:
    run_cycle("A")  # where the recording starts: the group after a first cycle
    written, recorded = replay(group, f"v1-pri-{variant}.jsonl")
    answers = [m for m in written if "callback" not in m]
    assert answers and all(a["ok"] for a in answers), answers
    b = group.servers["B"]
    assert b.file("/etc/app/app.conf").read_text() == CHANGED  # the SEC installed
    assert b.server(quiet).sid.sev("PRI") == 2
    # what the v1 PRI got then, it gets now: the same answers, no field it does not know
    assert keys(answers) == keys([m for m in recorded if "callback" not in m])
    assert "protocol" not in answers[0]
    if variant == "reverse":  # the send back's callbacks, to a v1 PRI
        callbacks = [m["callback"] for m in written if "callback" in m]
        then = [m["callback"] for m in recorded if "callback" in m]
        assert [c["op"] for c in callbacks] == [c["op"] for c in then]
        assert callbacks[0]["protocol"] == PROTOCOL_VERSION  # offered: a v1 PRI ignores it
        assert keys([{k: v for k, v in callbacks[0].items() if k != "protocol"}]) == keys(then[:1])
        assert keys(callbacks[1:]) == keys(then[1:])
    else:  # SEC1 sent its snapshot back over a connection of its own, to today's PRI
        a = group.servers["A"].server(quiet)
        assert a.sid.sev("SEC1") == 1 and a.sid.is_valid("SEC1", 1)


@pytest.mark.parametrize("variant", ["local", "reverse"])
def test_a_v2_pri_is_served_at_v2(group: SimGroup, run_cycle: Cycle, variant: str) -> None:
    run_cycle("A")
    lines = transcript(f"v2-pri-{variant}.jsonl")
    assert messages(lines, ">")[0]["protocol"] == 2  # the recorded PRI offered 2
    written, recorded = replay(group, f"v2-pri-{variant}.jsonl")
    answers = [m for m in written if "callback" not in m]
    assert all(a["ok"] for a in answers), answers
    assert answers[0]["protocol"] == 2
    assert keys(written) == keys(recorded)
    assert group.servers["B"].file("/etc/app/app.conf").read_text() == CHANGED


def session_lines(group: SimGroup, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """SEC1's answers, through `serve`, to these requests from the PRI's key."""
    b = group.servers["B"].server(quiet)
    feed = io.StringIO("".join(json.dumps(r) + "\n" for r in requests))
    out = io.StringIO()
    serve(b, ADDRESSES["PRI"], "PRI", feed, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def pri_hello(group: SimGroup, **fields: Any) -> dict[str, Any]:
    master = group.servers["A"].server(quiet).master()
    return {"op": "hello", "master_config": master.render(), **fields}


def test_the_server_answers_the_lower_version(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    for offered, speaks in (
        (None, None),
        (1, None),
        (2, 2),
        (PROTOCOL_VERSION + 5, PROTOCOL_VERSION),
    ):
        fields = {} if offered is None else {"protocol": offered}
        (answer,) = session_lines(group, pri_hello(group, **fields))
        assert answer["ok"] and answer.get("protocol") == speaks, (offered, answer)


def test_an_unknown_op_is_refused_naming_it_and_the_known_ones(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    before, hello, after = session_lines(
        group, {"op": "restore"}, pri_hello(group, protocol=2), {"op": "restore", "env": 1}
    )
    assert hello["ok"]
    for answer in (before, after):
        assert not answer["ok"] and answer["class"] == "RefusedError"
        assert answer["error"].startswith(f"unknown operation 'restore' from {ADDRESSES['PRI']}")
        assert (
            "knows hello, receive-begin, receive-commit, receive-delta, receive-objects, "
            in (answer["error"])
        )
    b = group.servers["B"].server(quiet)
    with pytest.raises(RefusedError, match="unknown operation 'pull'"):  # a callback only
        Session(b, ADDRESSES["PRI"], key_role="PRI").handle({"op": "pull", "env": 1})
    with pytest.raises(RefusedError, match="unknown operation None"):
        Session(b, ADDRESSES["PRI"], key_role="PRI").handle({"env": 1})


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"op": "receive-begin", "sev": 2, "envs": "1,2"}, "envs"),
        ({"op": "receive-begin", "sev": "2", "envs": [1, 2]}, "sev"),
        ({"op": "receive-begin", "sev": True, "envs": [1]}, "sev"),
        ({"op": "receive-begin", "sev": 2, "envs": [1, 2], "digests": {"1": "x"}}, "digests"),
        ({"op": "receive-begin", "role": "ROOT", "sev": 2, "envs": [1, 2]}, "role"),
        ({"op": "receive-commit", "sev": 2, "envs": [0]}, "envs"),
        ({"op": "receive-delta", "env": "1", "manifest": ""}, "env"),
        ({"op": "receive-delta", "env": 1, "manifest": 7}, "manifest"),
        ({"op": "receive-objects", "env": 1, "objects": [["SyncFiles", "/x"]]}, "objects"),
        ({"op": "syncup", "allow_mass_deletion": "yes"}, "allow_mass_deletion"),
        ({"op": "syncup", "reverse": 1}, "reverse"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(
    group: SimGroup, run_cycle: Cycle, request_: dict[str, Any], field: str
) -> None:
    run_cycle("A")
    _hello, answer = session_lines(group, pri_hello(group), request_)
    assert not answer["ok"], answer
    error = answer["error"]
    assert f"expected {field} = " in error or (
        field == "objects" and "expected a list of [tree, path, base64] objects, got" in error
    )
    assert f"refused {request_['op']} from {ADDRESSES['PRI']}: expected" in error
    assert group.servers["B"].server(quiet).sid.sev("PRI") == 2  # nothing began


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"master_config": 5}, "master_config"),
        ({"protocol": 0}, "protocol"),
        ({"next": "x"}, "next"),
    ],
)
def test_a_malformed_hello_is_refused_naming_the_field(
    group: SimGroup, run_cycle: Cycle, fields: dict[str, Any], field: str
) -> None:
    run_cycle("A")
    (answer,) = session_lines(group, {**pri_hello(group), **fields})
    assert not answer["ok"] and f"expected {field} = " in answer["error"], answer
