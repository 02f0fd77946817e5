"""One alert round on a simulated group (report/alerts/round.py): Verifier results and the
SyncCycle report in, mail through a real SMTP server out; an unreachable mail server is a
recorded failure with a retry, reported through the other channel, never an exception; the
rules file is synced, reloaded when it changes, and a malformed one keeps the last good
rules; suspension reminded every round; the daemon's turn carries the round's outcome."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from tests.alerts.conftest import Sink, free_port

from atlas_ha.context import Server
from atlas_ha.daemon.loop import Daemon
from atlas_ha.lab.group import SimGroup
from atlas_ha.report import events
from atlas_ha.report.alerts import store
from atlas_ha.report.alerts.model import REACHABILITY, utc
from atlas_ha.report.alerts.observe import Watermarks, observe
from atlas_ha.report.alerts.round import AlertRounds
from atlas_ha.report.view import group_status
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.suspension import suspend
from atlas_ha.system import Clock
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.results import ResultRow, VerifierResults
from atlas_ha.verifier.services import ALERT_RULES_PATH

T0 = 1_796_126_400.0  # 2026-12-01 12:00 UTC, a Tuesday


def quiet(_line: str) -> None:
    pass


class FixedClock(Clock):
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def pri(group: SimGroup, t: float = T0) -> Server:
    server = group.servers["A"].server(quiet)
    server.clock = FixedClock(t)
    return server


def rules(group: SimGroup, text: str) -> Path:
    path = group.servers["A"].file(ALERT_RULES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def mail(port: int, extra: str = "") -> str:
    return (
        f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
        f'starttls = false\nfrom = "atlas@acme.test"\nto = ["ops@acme.test"]\ntimeout = 3\n{extra}'
    )


def program(out: Path) -> str:
    script = out.with_suffix(".py")
    script.write_text(
        "import json, sys\n"
        f"with open({str(out)!r}, 'a') as f: f.write(json.dumps(json.load(sys.stdin)) + '\\n')\n"
    )
    return f'[channels.log]\ntype = "program"\ncommand = [{sys.executable!r}, {str(script)!r}]\n'


def results(server: Server, *rows: tuple[float, str, Status]) -> None:
    with VerifierResults(server.sid.verifier_results_file("PRI")) as db:
        for started, target, status in rows:
            row = ResultRow(
                "A",
                "PRI",
                "web",
                "http",
                target,
                "192.0.2.12",
                started,
                0.01,
                Profile(status, f"web on {target}: {status.name.lower()}"),
            )
            db.add([row], started)


def logged(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_results_become_one_mail_after_the_threshold_and_a_resolved_mail(
    group: SimGroup, smtp_sink: Sink
) -> None:
    rules(group, "[defaults]\nfailures = 2\nrepeat = 0\n" + mail(smtp_sink.port))
    rounds = AlertRounds()
    server = pri(group)
    results(server, (T0 - 30, "SEC1", Status.CRITICAL))
    assert rounds.after(server, "turn") == "turn; alerts: nothing to send"
    results(server, (T0 + 30, "SEC1", Status.CRITICAL))
    sentence = rounds.after(pri(group, T0 + 60), "turn")
    assert sentence == "turn; alerts: 1 notification(s), 1 delivered"
    (got,) = smtp_sink.received
    group_name = server.master().group
    assert got.message["Subject"] == f"[ATLAS] ATLAS problem: {group_name}/SEC1/web CRITICAL"
    assert "web on SEC1: critical" in got.message.get_payload()
    # the same results are not counted twice: no new result, no new mail
    rounds.after(pri(group, T0 + 120), "turn")
    assert len(smtp_sink.received) == 1
    results(server, (T0 + 150, "SEC1", Status.OK))
    rounds.after(pri(group, T0 + 180), "turn")
    assert smtp_sink.received[-1].message["Subject"].startswith("[ATLAS] ATLAS resolved:")
    record = store.deliveries(server.sid)
    assert [(r["channel"], r["outcome"]) for r in record] == [("mail", "sent"), ("mail", "sent")]
    # each delivery is in the event log too, beside the state changes it was about
    logged = [e for e in events.read(server.sid, server.role()).events if e["type"] == "alert"]
    assert [(e["channel"], e["outcome"]) for e in logged] == [("mail", "sent"), ("mail", "sent")]
    assert "ATLAS problem" in logged[0]["title"]


def test_an_unreachable_mail_server_is_recorded_retried_with_backoff_and_reported(
    group: SimGroup, tmp_path: Path
) -> None:
    port = free_port()  # nobody listens there yet
    out = tmp_path / "log.jsonl"
    rules(group, "retry = 60\n[defaults]\nfailures = 1\nrepeat = 0\n" + mail(port) + program(out))
    rounds = AlertRounds()
    server = pri(group)
    results(server, (T0 - 10, "SEC1", Status.CRITICAL))
    sentence = rounds.after(server, "turn")  # no exception escapes
    assert "failed: mail" in sentence
    record = store.deliveries(server.sid)
    failed = [r for r in record if r["outcome"] == "failed"]
    assert [(r["channel"], r["retry_in"]) for r in failed] == [("mail", 60.0)]
    assert "ConnectionRefusedError" in failed[0]["error"]
    titles = [n["title"] for n in logged(out)]  # the program got the alert and the report
    assert any("problem" in t for t in titles)
    assert any("channel failed: channel/mail" in t for t in titles)
    health = store.load(server.sid).channels["mail"]
    assert (health.failures, health.next_try, len(health.queue)) == (1, T0 + 60, 1)
    # before the retry is due: no attempt; after it fails again the wait doubles
    rounds.after(pri(group, T0 + 30), "turn")
    assert len(store.deliveries(server.sid)) == len(record)
    rounds.after(pri(group, T0 + 61), "turn")
    health = store.load(server.sid).channels["mail"]
    assert (health.failures, health.next_try) == (2, T0 + 61 + 120)
    assert sum("channel failed" in n["title"] for n in logged(out)) == 1  # reported once
    # the mail server comes up: the queued alert goes out, and the recovery is reported
    sink = Sink(port)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        rounds.after(pri(group, T0 + 182), "turn")
    finally:
        controller.stop()
    assert [r.message["Subject"] for r in sink.received] == [
        f"[ATLAS] ATLAS problem: {server.master().group}/SEC1/web CRITICAL"
    ]
    assert any("channel recovered" in n["title"] for n in logged(out))
    assert store.load(server.sid).channels["mail"].failures == 0


def test_a_malformed_rules_file_keeps_the_last_good_rules_and_is_alerted_once(
    group: SimGroup, tmp_path: Path
) -> None:
    out = tmp_path / "log.jsonl"
    path = rules(group, "[defaults]\nfailures = 1\nrepeat = 0\n" + program(out))
    rounds = AlertRounds()
    server = pri(group)
    rounds.after(server, "turn")
    path.write_text(path.read_text().replace("failures = 1", "failures = one"))
    sentence = rounds.after(pri(group, T0 + 60), "turn")
    assert f"rules file malformed ({path}:2: valid TOML" in sentence
    assert "the last good rules kept" in sentence
    results(server, (T0 + 70, "SEC1", Status.CRITICAL))
    rounds.after(pri(group, T0 + 90), "turn")
    titles = [n["title"] for n in logged(out)]
    assert sum("rules error" in t for t in titles) == 1  # once, not every round
    assert any("problem" in t and "SEC1/web" in t for t in titles)  # failures = 1 still in force
    # a restarted daemon with the file still bad: the last good rules from the disk
    fresh = AlertRounds()
    results(server, (T0 + 100, "SEC2", Status.CRITICAL))
    fresh.after(pri(group, T0 + 120), "turn")
    assert any("SEC2/web" in n["title"] for n in logged(out))


def test_a_suspension_is_reminded_every_round(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, mail(smtp_sink.port))
    server = pri(group)
    suspend(server, "disk replacement")
    rounds = AlertRounds()
    for i in range(3):
        rounds.after(pri(group, T0 + 60 * i), "turn")
    subjects = [r.message["Subject"] for r in smtp_sink.received]
    assert len(subjects) == 3 and all("reminder" in s for s in subjects)
    assert "disk replacement" in smtp_sink.received[0].message.get_payload()


def test_the_cycle_report_is_observed_an_unreachable_sec_as_its_reachability(
    group: SimGroup,
) -> None:
    group.shutdown("B")
    cycle(group.servers["A"].server(quiet))
    server = group.servers["A"].server(quiet)
    marks = Watermarks()
    found = observe(server, marks, utc(server.clock.now()))
    name = server.master().group
    by_subject = {(o.subject, o.kind): o.state for o in found}
    assert by_subject[(f"{name}/SEC1", REACHABILITY)] == "CRITICAL"
    assert by_subject[(f"{name}/SEC1/sync", "check")] == "CRITICAL"
    assert by_subject[(f"{name}/SEC2/sync", "check")] == "OK"
    assert observe(server, marks, utc(server.clock.now())) == []  # a report is observed once


def test_the_observations_are_the_status_models_cells_once_per_result(group: SimGroup) -> None:
    server = pri(group)
    results(server, (T0 - 30, "SEC1", Status.CRITICAL))
    marks = Watermarks()

    def seen(t: float) -> dict[str, tuple[str, str]]:
        found = observe(pri(group, t), marks, utc(t))
        return {o.subject.split("/", 1)[1]: (o.state, o.reason) for o in found}

    model = group_status(pri(group, T0)).row("SEC1")
    assert model is not None and model.cell("web") is not None
    first = seen(T0)
    assert first == {"SEC1/web": ("CRITICAL", model.cell("web").reason)}  # type: ignore[union-attr]
    assert seen(T0 + 60) == {}  # the same result is not observed twice
    # too old to be believed (results_stale 900 s): the model's UNKNOWN, every round while so
    for t in (T0 + 1000, T0 + 1060):
        state, reason = seen(t)["SEC1/web"]
        assert state == "UNKNOWN" and reason.startswith("stale: last result ")
    results(server, (T0 + 1100, "SEC1", Status.OK))
    assert seen(T0 + 1120) == {"SEC1/web": ("OK", "web on SEC1: ok")}


def test_a_damaged_cycle_report_is_the_rounds_outcome_not_an_exception(group: SimGroup) -> None:
    server = pri(group)
    server.sid.last_cycle_file.parent.mkdir(parents=True, exist_ok=True)
    server.sid.last_cycle_file.write_text(json.dumps({"finished": T0, "secs": [{"x": 1}]}))
    sentence = AlertRounds().after(server, "turn")
    assert sentence.startswith(f"turn; alerts: round failed: {server.sid.last_cycle_file}: ")
    assert "a SyncCycle report" in sentence


def test_the_rules_file_is_synced_to_the_secs(group: SimGroup) -> None:
    text = "[defaults]\nfailures = 4\n"
    rules(group, text)
    report = cycle(group.servers["A"].server(quiet))
    assert report.all_equal
    assert group.servers["B"].file(ALERT_RULES_PATH).read_text() == text
    assert group.servers["C"].file(ALERT_RULES_PATH).read_text() == text


def test_the_daemon_turn_carries_the_alert_round(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, mail(smtp_sink.port))
    server = group.servers["B"].server(quiet)
    suspend(server, "on the bench")  # a SEC's own suspension: reminded from its own daemon
    stop = threading.Event()
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if len(lines) >= 2:
            stop.set()

    # the rules on B: synced from A in real life; here written as a SyncCycle would install
    path = group.servers["B"].file(ALERT_RULES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mail(smtp_sink.port))
    Daemon(server, interval=0.05, log=log).run(stop)
    assert lines[1].startswith("SEC1: standing by")
    assert "; alerts: 1 notification(s), 1 delivered" in lines[1]
    assert "reminder" in smtp_sink.received[0].message["Subject"]


@pytest.mark.parametrize("listening", [True, False])
def test_cli_alerts_test_prints_each_channel_and_fails_when_one_failed(
    group: SimGroup, smtp_sink: Sink, capsys: pytest.CaptureFixture[str], listening: bool
) -> None:
    from atlas_ha.cli.main import main

    rules(group, mail(smtp_sink.port if listening else free_port()))
    code = main(["--config", str(group.servers["A"].config), "alerts", "test"])
    printed = capsys.readouterr().out
    if listening:
        assert code == 0 and printed.startswith("mail: sent: sent to ops@acme.test")
        assert "test notification" in smtp_sink.received[0].message.get_payload()
    else:
        assert code == 1 and printed.startswith("mail: failed: mail: 127.0.0.1:")


def test_cli_silence_list_unsilence(group: SimGroup, capsys: pytest.CaptureFixture[str]) -> None:
    from atlas_ha.cli.main import main

    config = ["--config", str(group.servers["A"].config), "alerts"]
    assert main([*config, "silence", "acme/SEC1/*", "--for", "2h", "--reason", "new disk"]) == 0
    assert "silenced acme/SEC1/* until" in capsys.readouterr().out
    assert main([*config, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["match"], s["reason"]) for s in listed["silences"]] == [("acme/SEC1/*", "new disk")]
    assert main([*config, "unsilence", "acme/SEC1/*"]) == 0
    assert main([*config, "list"]) == 0
    assert "silences: none" in capsys.readouterr().out
    assert main([*config, "silence", "x", "--for", "soon", "--reason", "r"]) == 36
    assert main([*config, "ack", "acme/SEC1/web"]) == 56  # nothing active to acknowledge
    assert "no active alert of 'acme/SEC1/web' (active: none)" in capsys.readouterr().err
