"""Every Verifier result stored between two alert rounds reaches the engine, in order, so
flapping is judged over results (Nagios), not over rounds; the cursor over the
VerifierResults store lives in the alert state (a restarted daemon neither replays nor drops
a result). The daemon's own cell (`atlas`: its heartbeat, the installed identity) alerts
like every other cell, mailed to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
from email.message import Message

from tests.alerts.conftest import Sink
from tests.alerts.test_alert_round import T0, mail, pri, results, rules

from atlas_ha.lab.group import SimGroup
from atlas_ha.report.alerts import store
from atlas_ha.report.alerts.round import AlertRounds, listing
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.results import VerifierResults

OK, CRITICAL = Status.OK, Status.CRITICAL


def text(message: Message) -> str:
    return bytes(message.get_payload(decode=True)).decode()


def bodies(sink: Sink) -> list[str]:
    return [text(r.message) for r in sink.received]


def ten_results(group: SimGroup, states: list[Status]) -> None:
    server = pri(group)
    results(server, *((T0 + 10 * (i + 1), "SEC1", s) for i, s in enumerate(states)))


def test_results_flipping_between_two_rounds_are_flapping(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, "[defaults]\nfailures = 1\nrepeat = 0\n" + mail(smtp_sink.port))
    rounds = AlertRounds()
    results(pri(group), (T0 - 30, "SEC1", OK))
    rounds.after(pri(group, T0), "turn")
    ten_results(group, [CRITICAL, OK] * 5)  # ten flips between this round and the last
    rounds.after(pri(group, T0 + 120), "turn")
    subject = f"{pri(group).master().group}/SEC1/web"
    assert any(f"[flapping started] {subject}" in b for b in bodies(smtp_sink))
    assert subject in listing(pri(group, T0 + 120))["flapping"]


def test_the_same_results_in_a_steady_order_are_not_flapping(
    group: SimGroup, smtp_sink: Sink
) -> None:
    rules(group, "[defaults]\nfailures = 1\nrepeat = 0\n" + mail(smtp_sink.port))
    rounds = AlertRounds()
    results(pri(group), (T0 - 30, "SEC1", OK))
    rounds.after(pri(group, T0), "turn")
    ten_results(group, [CRITICAL] * 5 + [OK] * 5)  # as many of each, two changes
    rounds.after(pri(group, T0 + 120), "turn")
    (body,) = bodies(smtp_sink)  # one round's message: the problem and its resolution
    assert "[problem]" in body and "[resolved]" in body
    assert "flapping" not in body
    assert listing(pri(group, T0 + 120))["flapping"] == {}


def test_a_restarted_daemon_neither_replays_nor_drops_a_result(
    group: SimGroup, smtp_sink: Sink
) -> None:
    rules(group, "[defaults]\nfailures = 3\nrepeat = 0\n" + mail(smtp_sink.port))
    server = pri(group)
    subject = f"{server.master().group}/SEC1/web"
    results(server, (T0 - 30, "SEC1", OK))
    AlertRounds().after(pri(group, T0), "turn")
    results(server, (T0 + 10, "SEC1", CRITICAL), (T0 + 20, "SEC1", CRITICAL))
    AlertRounds().after(pri(group, T0 + 60), "turn")
    with VerifierResults(server.sid.verifier_results_file("PRI")) as db:
        newest = db.max_id()
    state = store.load(server.sid)
    assert state.marks["results"] == newest  # the cursor is in the alert state
    assert state.engine.subjects[subject].fails == 2 and smtp_sink.received == []
    results(server, (T0 + 70, "SEC1", CRITICAL))  # stored while no daemon runs
    AlertRounds().after(pri(group, T0 + 120), "turn")  # a new daemon: the third failure
    (got,) = smtp_sink.received
    assert got.message["Subject"] == f"[ATLAS] ATLAS problem: {subject} CRITICAL"
    AlertRounds().after(pri(group, T0 + 180), "turn")  # and again: nothing replayed
    assert store.load(server.sid).engine.subjects[subject].fails == 3
    assert len(smtp_sink.received) == 1


def beat(group: SimGroup, at: float) -> None:
    path = pri(group).sid.heartbeat_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"heartbeat": at, "sentence": "SyncCycle done"}))


def test_a_stale_daemon_heartbeat_is_alerted_and_resolved(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, "[defaults]\nfailures = 1\nrepeat = 0\n" + mail(smtp_sink.port))
    rounds = AlertRounds()
    subject = f"{pri(group).master().group}/PRI/atlas"
    beat(group, T0 - 5)
    assert rounds.after(pri(group, T0), "turn") == "turn; alerts: nothing to send"
    rounds.after(pri(group, T0 + 600), "turn")  # the last heartbeat 10 minutes old
    (problem,) = smtp_sink.received
    assert problem.message["Subject"] == f"[ATLAS] ATLAS problem: {subject} CRITICAL"
    assert "daemon heartbeat 10 min old (not alive)" in text(problem.message)
    beat(group, T0 + 655)
    rounds.after(pri(group, T0 + 660), "turn")
    assert smtp_sink.received[-1].message["Subject"] == (f"[ATLAS] ATLAS resolved: {subject} OK")


def test_an_identity_of_another_role_is_alerted(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, "[defaults]\nfailures = 1\nrepeat = 0\n" + mail(smtp_sink.port))
    server = pri(group)
    subject = f"{server.master().group}/PRI/atlas"
    beat(group, T0 - 5)
    server.esd.current_role_file.write_text("SEC1\n")  # installed: another role's identity
    AlertRounds().after(pri(group, T0), "turn")
    (problem,) = smtp_sink.received
    assert problem.message["Subject"] == f"[ATLAS] ATLAS problem: {subject} CRITICAL"
    assert "installed identity is SEC1's, the disk holds PRI" in text(problem.message)
