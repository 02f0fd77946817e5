"""The alert engine's listener of the operations' alerts (the ops_alert event, hooks.py):
a start refused or warned by the start handler, a degraded log, a new or recurring crash
signature (ops/), a RAID check's mismatches (raid/) become observations of this server,
evaluated and delivered at once by the same engine and channels as the rounds'.

    notice kind       subject                  observation          state
    crash-new         group/ROLE/crash         CRASH, its signature  CRITICAL (once ever)
    crash-recurring   group/ROLE/crash         CRASH, signature+time CRITICAL (each recurrence)
    start-limit       group/ROLE/start-limit   OPERATION             CRITICAL refused, else
                                                                     WARNING
    log-degraded      group/ROLE/log-degraded  OPERATION             WARNING
    raid-mismatch     group/ROLE/raid          OPERATION             WARNING

An operation's signature is its kind and what it is about (the check and program, the
array), not its numbers: a refusal that recurs every minute is alerted once per `repeat`.
Without a role on this server (no Unbound Data mounted: no rules state to keep), or without
a rules file (nothing would be sent; nothing is written then, not even the alert state: a
start refusal for a full SID_DATA writes nothing there), the notice is left to the
operation's own record (ESD_DATA/events.jsonl).
"""

from __future__ import annotations

from atlas_ha.context import Server
from atlas_ha.hooks import Notice, NoticeListener
from atlas_ha.report.alerts.model import CRASH, CRITICAL, OPERATION, WARNING, Observation, utc
from atlas_ha.report.alerts.round import AlertRounds
from atlas_ha.settings import Settings
from atlas_ha.verifier.services import alert_rules_file

SUBJECTS = {"start-limit": "start-limit", "log-degraded": "log-degraded", "raid-mismatch": "raid"}
ABOUT = ("check", "program", "array")  # the details that make an operation's alert "the same"


def observation(notice: Notice, group: str, role: str) -> Observation:
    """The observation of `notice` on the server holding `role` of `group`."""
    d = notice.details
    at = utc(notice.time)
    if notice.kind in ("crash-new", "crash-recurring"):
        signature = str(d.get("signature", notice.text))
        if notice.kind == "crash-recurring":
            signature = f"{signature}@{notice.time:.0f}"  # each recurrence after a fix
        return Observation(
            f"{group}/{role}/crash", role, CRITICAL, notice.text, at, CRASH, signature
        )
    subject = SUBJECTS.get(notice.kind, notice.kind)
    state = CRITICAL if d.get("refused") else WARNING
    signature = ":".join([notice.kind, *(f"{k}={d[k]}" for k in ABOUT if k in d)])
    return Observation(
        f"{group}/{role}/{subject}", role, state, notice.text, at, OPERATION, signature
    )


def on_notice(settings: Settings, notice: Notice) -> None:
    server = Server(settings, log=lambda _line: None)
    if not server.sid.master_config_file.exists():
        return  # no role here: the operation's record is all there is
    if not alert_rules_file(settings.system_root).exists():
        return  # no channels: nothing to send
    master = server.master()
    AlertRounds().push(server, [observation(notice, master.group, master.role)])


LISTENER = NoticeListener(on_notice)
