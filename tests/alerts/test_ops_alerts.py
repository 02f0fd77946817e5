"""The operations' alerts reach the alert engine (hooks.py's ops_alert event, the listener of
report/alerts/notices.py registered by entry point): a start refusal of the start handler, a
new crash signature (alerted once), a RAID check that found mismatches, each delivered by the
real engine through a real SMTP server (aiosmtpd); the record in ESD_DATA/events.jsonl is
kept whether a listener is installed, fails, or there is none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.alerts.conftest import Sink
from tests.alerts.test_alert_round import mail, rules
from tests.unit.raid.conftest import make_md

from atlas_ha import hooks
from atlas_ha.errors import StartRefusedError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import crash, notify
from atlas_ha.raid.rotate import Rotation
from atlas_ha.report.alerts import store
from atlas_ha.settings import RaidSettings, Settings, load


def settings_of(group: SimGroup, extra: str = "") -> Settings:
    config = group.servers["A"].config
    if extra:
        config.write_text(config.read_text() + extra)
    return load(config)


def subjects(sink: Sink) -> list[str]:
    return [str(r.message["Subject"]) for r in sink.received]


def test_a_start_refusal_is_mailed_once_per_repeat_and_recorded_every_time(
    group: SimGroup, smtp_sink: Sink
) -> None:
    rules(group, "[defaults]\nrepeat = 0\n" + mail(smtp_sink.port))
    settings = settings_of(group, "\n[limits]\nsid_min_free_mb = 100000000\n")
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(settings.config_file)]
    for _ in range(2):
        done = subprocess.run(
            [*argv, "sync", "cycle"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == StartRefusedError.exit_code, done.stderr
    group_name = group.servers["A"].server().master().group
    assert subjects(smtp_sink) == [
        f"[ATLAS] ATLAS operation: {group_name}/PRI/start-limit CRITICAL"
    ]
    body = smtp_sink.received[0].message.get_payload()
    assert "sync-cycle: " in body and "below the limit of 100000000 MiB" in body
    records = [e for e in notify.read_events(settings) if e["kind"] == "start-limit"]
    assert [(e["program"], e["refused"]) for e in records] == [("sync-cycle", True)] * 2
    sent = [d for d in store.deliveries(group.servers["A"].server().sid) if d["outcome"] == "sent"]
    assert len(sent) == 1


def test_a_new_crash_signature_is_alerted_once(group: SimGroup, smtp_sink: Sink) -> None:
    rules(group, mail(smtp_sink.port))
    settings = settings_of(group)

    def fail() -> None:
        raise RuntimeError("boom in the test")

    caught = []
    for _ in range(2):
        try:
            fail()
        except RuntimeError as exc:
            caught.append(exc)
    run = crash.RunInfo("sync-cycle", None)
    assert crash.record_exception(settings, caught[0], run) == "new"
    assert crash.record_exception(settings, caught[1], run) != "new"  # the same signature
    (record,) = [e for e in notify.read_events(settings) if e["kind"] == "crash-new"]
    # the same signature again through the event (as a second server's store might say):
    notify.emit_alert(settings, "crash-new", "new crash: again", signature=record["signature"])
    group_name = group.servers["A"].server().master().group
    assert subjects(smtp_sink) == [f"[ATLAS] ATLAS new crash: {group_name}/PRI/crash CRITICAL"]
    assert "RuntimeError" in smtp_sink.received[0].message.get_payload()


def test_without_a_listener_or_with_a_failing_one_the_record_still_happens(
    group: SimGroup,
    smtp_sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules(group, mail(smtp_sink.port))
    settings = settings_of(group)
    monkeypatch.setattr(hooks, "_installed", lambda: [])
    assert notify.emit_alert(settings, "log-degraded", "daemon-run: log file unusable", program="x")
    assert smtp_sink.received == []

    def broken(_settings: Settings, _notice: hooks.Notice) -> None:
        raise OSError("listener down")

    monkeypatch.setattr(hooks, "_installed", lambda: [("broken", hooks.NoticeListener(broken))])
    assert notify.emit_alert(settings, "log-degraded", "again", program="x")
    assert "ops_alert listener broken failed: listener down" in capsys.readouterr().err
    kinds = [e["text"] for e in notify.read_events(settings) if e["kind"] == "log-degraded"]
    assert kinds == ["daemon-run: log file unusable", "again"]


MDADM = """#!/bin/sh
if [ "$1" = "--detail" ]; then
  printf 'MD_LEVEL=raid1\\nMD_DEVICES=3\\nMD_UUID=cbe1de75:a3de4dde:aa860b9b:51365701\\n'
  for d in vda:0 vdb:1 vdc:2; do
    printf 'MD_DEVICE_dev_%s_ROLE=%s\\nMD_DEVICE_dev_%s_DEV=/dev/%s\\n' \\
      "${d%%:*}" "${d##*:}" "${d%%:*}" "${d%%:*}"
  done
  exit 0
fi
echo "mdadm: No md superblock detected on $3." >&2
exit 1
"""


def test_a_raid_check_that_found_mismatches_is_alerted(
    group: SimGroup, smtp_sink: Sink, tmp_path: Path
) -> None:
    """The kernel's side is a sysfs tree made by the test (tests/unit/raid/conftest.py) and
    mdadm a script answering as mdadm does for it: the check runs, its end sets
    mismatch_cnt 8; the alert goes out through the ops_alert event."""
    rules(group, mail(smtp_sink.port))
    settings = settings_of(group)
    sys_root = make_md(tmp_path / "sys")
    mdadm = tmp_path / "mdadm"
    mdadm.write_text(MDADM)
    mdadm.chmod(0o755)
    md = sys_root / "block" / "md0" / "md"

    def kernel(_seconds: float) -> None:  # the check ends while the rotation waits
        (md / "sync_action").write_text("idle\n")
        (md / "mismatch_cnt").write_text("8\n")

    raid = RaidSettings(mdadm=str(mdadm), proc=tmp_path / "proc", sys=sys_root)
    rotation = Rotation(raid, EsdData(settings.esd_data), sleep=kernel, settings=settings)
    assert rotation.check("md0")["mismatch_cnt"] == 8
    group_name = group.servers["A"].server().master().group
    assert subjects(smtp_sink) == [f"[ATLAS] ATLAS operation: {group_name}/PRI/raid WARNING"]
    assert "md0: check found mismatch_cnt 8" in smtp_sink.received[0].message.get_payload()
    assert rotation.record.last("md0", "alert") is not None  # the rotation record too
    (record,) = [e for e in notify.read_events(settings) if e["kind"] == "raid-mismatch"]
    assert record["array"] == "md0" and record["mismatch_cnt"] == 8
