"""`atlas-ha alerts test|list|silence|unsilence|ack` (report/alerts; docs/alerts.md)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from atlas_ha.cli.common import print_json, server_from
from atlas_ha.report.alerts import round as alerts


def register(sub: Any) -> None:
    p = sub.add_parser("alerts", help="alert rules, channels, silences (docs/alerts.md)")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    t = asub.add_parser("test", help="send a test notification (every channel, or one)")
    t.add_argument("channel", nargs="?", help="the channel's name in the rules file")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_test)
    ls = asub.add_parser("list", help="active, held, flapping alerts; silences; deliveries")
    ls.add_argument("--last", type=int, default=10, help="deliveries shown (default 10)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_list)
    s = asub.add_parser("silence", help="hold back the alerts of subjects for a while")
    s.add_argument("subject", help="a subject or a glob: acme/SEC1/web, 'acme/SEC1/*'")
    s.add_argument("--for", dest="for_", required=True, help="how long: 30m, 2h, 1d")
    s.add_argument("--reason", required=True)
    s.set_defaults(handler=cmd_silence)
    u = asub.add_parser("unsilence", help="remove the silences of SUBJECT (the same glob)")
    u.add_argument("subject")
    u.set_defaults(handler=cmd_unsilence)
    a = asub.add_parser("ack", help="acknowledge an active alert: no repeats until it changes")
    a.add_argument("subject", help="the alert's subject: acme/SEC1/web")
    a.add_argument("--reason", default="")
    a.set_defaults(handler=cmd_ack)


def cmd_test(args: argparse.Namespace) -> int:
    attempts = alerts.test_channels(server_from(args), args.channel)
    if args.json:
        print_json(attempts)
    else:
        for a in attempts:
            print(f"{a['channel']}: {a['outcome']}: {a.get('detail') or a.get('error', '')}")
        if not attempts:
            print("no channels configured")
    return 0 if attempts and all(a["outcome"] == "sent" for a in attempts) else 1


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def cmd_list(args: argparse.Namespace) -> int:
    data = alerts.listing(server_from(args), args.last)
    if args.json:
        print_json(data)
        return 0
    if data["rules_error"]:
        print(f"rules file: {data['rules_error']} (the last good rules are in force)")
    for title, key in (("active", "active"), ("held back", "held"), ("flapping", "flapping")):
        print(f"{title}:" + ("" if data[key] else " none"))
        for subject, what in data[key].items():
            print(f"  {subject}: {what}{' %' if key == 'flapping' else ''}")
    print("silences:" + ("" if data["silences"] else " none"))
    for s in data["silences"]:
        print(f"  {s['match']} until {_when(s['until'])} by {s['by']}: {s['reason']}")
    for name, health in data["channels"].items():
        if health["failures"]:
            print(
                f"channel {name}: {health['failures']} failure(s), next try "
                f"{_when(health['next_try'])}, {health['queued']} queued: {health['last_error']}"
            )
    print("last deliveries:" + ("" if data["deliveries"] else " none"))
    for d in data["deliveries"]:
        print(
            f"  {_when(d['at'])} {d['channel']} {d['outcome']}: {d['title']}"
            + (f" ({d['error']})" if d.get("error") else "")
        )
    return 0


def cmd_silence(args: argparse.Namespace) -> int:
    entry = alerts.silence(server_from(args), args.subject, args.for_, args.reason)
    print(f"silenced {entry.match} until {_when(entry.until)}: {entry.reason}")
    return 0


def cmd_unsilence(args: argparse.Namespace) -> int:
    removed = alerts.unsilence(server_from(args), args.subject)
    print(f"removed {removed} silence(s) of {args.subject}")
    return 0 if removed else 1


def cmd_ack(args: argparse.Namespace) -> int:
    ack = alerts.acknowledge(server_from(args), args.subject, args.reason)
    print(f"acknowledged {args.subject} ({ack.hard}) by {ack.by}: {ack.reason}")
    return 0
