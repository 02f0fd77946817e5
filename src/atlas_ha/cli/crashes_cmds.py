"""`atlas-ha crashes list|show SIG|mark-fixed SIG --version V|export FILE|import FILE`: the
crash-signature store (SPEC 7.3)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from atlas_ha.cli.common import print_json, server_from


def register(sub: Any) -> None:
    crashes = sub.add_parser("crashes", help="crash signatures: list, show, mark fixed, share")
    csub = crashes.add_subparsers(dest="crashes_command", required=True)
    p = csub.add_parser("list", help="every signature, newest occurrence first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    p = csub.add_parser("show", help="one signature: cleaned and first raw traceback, occurrences")
    p.add_argument("signature", help="the signature or a unique prefix (>= 6 hex digits)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--core", type=Path, metavar="FILE", help="write its core (uncompressed) here")
    p.set_defaults(handler=cmd_show)
    p = csub.add_parser("mark-fixed", help="fixed in VERSION: a later occurrence alerts again")
    p.add_argument("signature")
    p.add_argument("--version", required=True)
    p.set_defaults(handler=cmd_mark_fixed)
    p = csub.add_parser("export", help="write every signature as a bundle (JSON lines)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_export)
    p = csub.add_parser("import", help="merge a bundle from another site (known: no alert)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_import)


def _when(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(value)) if value else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from atlas_ha.ops.crash import store_for

    with store_for(server_from(args).settings) as store:
        rows = store.summaries()
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        fixed = f" fixed in {row['fixed_in']}" if row["fixed_in"] else ""
        print(
            f"{row['signature'][:16]}  {row['count']:>4}x  last {_when(row['last_seen'])}  "
            f"{row['kind']:<9} {row['title']}{fixed} [{row['source']}]"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from atlas_ha.layout.atomic import atomic_write
    from atlas_ha.ops.crash import store_for

    with store_for(server_from(args).settings) as store:
        info = store.show(args.signature)
        core = store.core(info["signature"]) if args.core else None
    if args.core:
        if core is None:
            print(f"{info['signature']}: no core stored")
        else:
            atomic_write(args.core, core, mode=0o600)
            print(f"core written to {args.core} ({len(core)} bytes)")
    if args.json:
        print_json(info)
        return 0
    print(f"signature {info['signature']} ({info['kind']}, {info['source']})")
    print(f"title     {info['title']}")
    print(f"fixed in  {info['fixed_in'] or '-'}; core {info['core_bytes'] or 0} bytes (lzma)")
    print("cleaned traceback:\n" + info["cleaned"])
    print("first raw traceback:\n" + (info["first_raw"] or "(none: imported)"))
    for o in info["occurrences"]:
        print(
            f"  {_when(o['time'])} {o['server']} {o['role'] or '-'} {o['program'] or '-'} "
            f"atlas-ha {o['version']} log {o['log_file'] or '-'}"
        )
    return 0


def cmd_mark_fixed(args: argparse.Namespace) -> int:
    from atlas_ha.ops.crash import store_for

    with store_for(server_from(args).settings) as store:
        sig = store.mark_fixed(args.signature, args.version)
    print(f"{sig}: fixed in {args.version} (an occurrence in {args.version} or later alerts)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from atlas_ha.ops.crash import store_for

    with store_for(server_from(args).settings) as store:
        count = store.export(args.file)
    print(f"exported {count} signature(s) to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from atlas_ha.ops.crash import store_for

    with store_for(server_from(args).settings) as store:
        counts = store.import_bundle(args.file)
    print(
        f"imported {args.file}: {counts['added']} new, {counts['updated']} marked fixed, "
        f"{counts['known']} known"
    )
    return 0
