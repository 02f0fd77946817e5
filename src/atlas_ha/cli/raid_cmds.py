"""`atlas-ha raid status|rotate-out|rotate-in|check`: the RAID1 third-disk rotation
(raid/rotate.py, docs/backup.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from atlas_ha.cli.common import print_json
from atlas_ha.errors import EXIT_DIFFERENCES
from atlas_ha.layout.esd import EsdData
from atlas_ha.raid.rotate import Rotation
from atlas_ha.settings import load, locate


def register(sub: Any) -> None:
    raid = sub.add_parser("raid", help="RAID1 third-disk rotation (backup disks, mdadm)")
    rsub = raid.add_subparsers(dest="raid_command", required=True)
    p = rsub.add_parser("status", help="arrays, members, the rotating slot, the last check")
    p.add_argument("array", nargs="?", help="md0 or /dev/md0 (default: every array)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)
    p = rsub.add_parser("rotate-out", help="record, fail and remove the rotating disk")
    p.add_argument("array")
    p.add_argument("--member", required=True, help="the member's UUID (or its device)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rotate_out)
    p = rsub.add_parser("rotate-in", help="wipe and add a disk, wait for the recovery, check")
    p.add_argument("array")
    p.add_argument("device", help="the disk to add, e.g. /dev/sdc")
    p.add_argument("--no-wait", action="store_true", help="return once the recovery started")
    p.add_argument(
        "--force", action="store_true", help="wipe a disk carrying a filesystem or partitions too"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rotate_in)
    p = rsub.add_parser("check", help="compare the mirrors (sync_action check), mismatch_cnt")
    p.add_argument("array")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check)


def _rotation(args: argparse.Namespace) -> Rotation:
    settings = load(locate(args.config))
    say = (lambda line: print(line, file=sys.stderr)) if not args.json else (lambda _l: None)
    return Rotation(settings.raid, EsdData(settings.esd_data), say=say, settings=settings)


def _render_array(data: dict[str, Any]) -> None:
    print(
        f"{data['array']}  {data['level']}  {data['verdict']}  (array_state "
        f"{data['array_state']}, sync_action {data['sync_action']})  UUID {data['uuid']}"
    )
    progress = data.get("progress")
    if progress and progress.get("percent") is not None:
        print(
            f"  {progress['action']} {progress['percent']}%  finish {progress['finish_min']} min"
            f"  speed {progress['speed_kib']} KiB/s"
        )
    for slot in data["slots"]:
        number = "-" if slot["slot"] is None else slot["slot"]
        if slot["device"] is None:
            what = "empty, rotating slot (expected)" if slot["rotating"] else "EMPTY (degraded)"
            print(f"  slot {number}: {what}")
        else:
            tag = "  rotating" if slot["rotating"] else ""
            print(
                f"  slot {number}: {slot['device']}  {','.join(slot['state'])}  member UUID "
                f"{slot['member_uuid']}  events {slot['events']}{tag}"
            )
    check = data.get("last_check")
    last = f"{check['time']} mismatch_cnt {check['mismatch_cnt']}" if check else "none recorded"
    print(
        f"  mismatch_cnt {data['mismatch_cnt']} (last sync action {data['last_sync_action']});"
        f" last check: {last}"
    )
    if data.get("estimate_seconds") is not None:
        print(f"  about {data['estimate_seconds'] / 60:.1f} min left")


def cmd_status(args: argparse.Namespace) -> int:
    arrays = _rotation(args).status(args.array)
    if args.json:
        print_json(arrays)
    elif not arrays:
        print("no md arrays")
    for data in [] if args.json else arrays:
        _render_array(data)
    return 0


def cmd_rotate_out(args: argparse.Namespace) -> int:
    result = _rotation(args).rotate_out(args.array, args.member)
    if args.json:
        print_json(result)
        return 0
    removed = result["removed"]
    print(
        f"removed {removed['device']} (member UUID {removed['member_uuid']}, slot "
        f"{removed['slot']}, event count {removed['events']}): label it and take it away"
    )
    _render_array(result["array"])
    return 0


def cmd_rotate_in(args: argparse.Namespace) -> int:
    result = _rotation(args).rotate_in(
        args.array, args.device, wait=not args.no_wait, force=args.force
    )
    if args.json:
        print_json(result)
        return 0
    print(f"added {result['added']['device']} as a new member (full recovery)")
    if "check" in result:
        print(f"check: mismatch_cnt {result['check']['mismatch_cnt']}")
    _render_array(result["array"])
    return EXIT_DIFFERENCES if result.get("check", {}).get("mismatch_cnt", 0) else 0


def cmd_check(args: argparse.Namespace) -> int:
    result = _rotation(args).check(args.array, wait=not args.no_wait)
    if args.json:
        print_json(result)
    elif "mismatch_cnt" in result:
        print(f"{args.array}: check done, mismatch_cnt {result['mismatch_cnt']}")
    else:
        print(f"{args.array}: check started")
    return EXIT_DIFFERENCES if result.get("mismatch_cnt", 0) else 0
