"""`atlas-ha history [PATH]`, `atlas-ha diff`, `atlas-ha restore` (SPEC 5.11).

PATH is always a system path (/etc/app/app.conf); it names that object's copy in every
area of SID_DATA (SyncFiles and IdentFiles of every ROLE/EnvN).
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
from typing import Any

from atlas_ha.cli.common import role_name, server_from
from atlas_ha.model import ROLE_RE
from atlas_ha.sync.changes import changes, diff
from atlas_ha.sync.restore import Restored, restore_path, restore_snapshot

SNAPSHOT_RE = re.compile(r"^([A-Z0-9]+)/Env([1-9][0-9]*)$")

DIFF_HELP = """\
Show what changed in SID_DATA between two revisions (git diff), by default from HEAD~1 to
HEAD; with one revision, from it to HEAD. REV is anything git names a commit with: an id
from `atlas-ha history`, HEAD~3, main@{yesterday}. --path limits the diff to the copies of
one system path in every area."""

RESTORE_HELP = """\
Restore, in SID_DATA, the copy of system path PATH in one area (default: this server's own
role and EnvID) to its content and metadata (mode, owner, group, mtime; symlink target) at
revision REV, the metadata taken from that revision's Manifest; or, with --snapshot
ROLE/EnvN, the whole area (every tracked file, Manifest and path lists; files added since
REV are removed). The restore is recorded as a commit of its own (operation "restore").

A restore writes the area only, never the system root. What puts the restored object in
place: on a SEC, the next Snapshot Install (`atlas-ha sync install`) when the restored area
is the PRI's (--role PRI), which is what it installs from; otherwise the operator's own
copy; on the PRI, --install also places it into the system root with its metadata. The next
Snapshot Create of the area's role copies the system root into the area again, so on the
PRI a restore without --install lasts until the next SyncCycle."""


def register(sub: Any) -> None:
    """Add the history, diff and restore commands to the `atlas-ha` parser."""
    p = sub.add_parser("history", help="changes recorded in SID_DATA (of one system path)")
    p.add_argument("path", nargs="?", type=system_path, metavar="PATH")
    p.add_argument("-n", type=int, default=50)
    p.set_defaults(handler=cmd_history)
    _register_diff(sub)
    _register_restore(sub)


def _register_diff(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two revisions of SID_DATA",
        description=DIFF_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rev_a", nargs="?", default="HEAD~1", metavar="REV_A")
    p.add_argument("rev_b", nargs="?", default="HEAD", metavar="REV_B")
    p.add_argument("--path", type=system_path, help="only the copies of this system path")
    p.set_defaults(handler=cmd_diff)


def _register_restore(sub: Any) -> None:
    p = sub.add_parser(
        "restore",
        help="restore a path or a whole snapshot area to an earlier revision",
        description=RESTORE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "path", nargs="?", type=system_path, metavar="PATH", help="a system path: /etc/hosts"
    )
    what.add_argument(
        "--snapshot", type=snapshot_ref, metavar="ROLE/EnvN", help="the whole area instead"
    )
    p.add_argument("--to", required=True, metavar="REV", help="the revision to go back to")
    p.add_argument("--role", type=role_name, help="the area's role (default: this server's)")
    p.add_argument("--env", type=env_version, help="the area's EnvVersion (default: EnvID)")
    p.add_argument(
        "--install",
        action="store_true",
        help="PRI only: also place the restored object into the system root",
    )
    p.set_defaults(handler=cmd_restore, restore_parser=p)


# -- argument types ------------------------------------------------------------------------------
def system_path(text: str) -> str:
    """An absolute system path, normalised (/etc/app/ -> /etc/app); not / itself."""
    path = posixpath.normpath(text) if text else ""
    if not path.startswith("/") or path.strip("/") == "":
        raise argparse.ArgumentTypeError(f"an absolute path such as /etc/hosts, got {text!r}")
    return "/" + path.lstrip("/")


def env_version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive EnvVersion, got {text!r}")
    return int(text)


def snapshot_ref(text: str) -> tuple[str, int]:
    """ROLE/EnvN -> (ROLE, N)."""
    match = SNAPSHOT_RE.match(text)
    if not match or not ROLE_RE.match(match.group(1)):
        raise argparse.ArgumentTypeError(f"ROLE/EnvN such as PRI/Env2, got {text!r}")
    return match.group(1), int(match.group(2))


# -- commands ------------------------------------------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    for change in changes(server_from(args), args.path, args.n):
        print(
            f"{change.rev[:10]} {change.when} {change.operation:<14} {change.role}/"
            f"Env{change.env} on {change.server}"
        )
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    sys.stdout.write(diff(server_from(args), args.rev_a, args.rev_b, args.path))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.restore_parser
    if args.snapshot and (args.role or args.env or args.install):
        parser.error("--role, --env and --install go with PATH, not with --snapshot")
    server = server_from(args)
    if args.snapshot:
        role, env = args.snapshot
        result = restore_snapshot(server, role, env, args.to)
        what = result.area
    else:
        result = restore_path(server, args.path, args.to, args.role, args.env, args.install)
        what = f"{args.path} in {result.area}"
    _report(what, args.to, result)
    return 0


def _report(what: str, rev: str, result: Restored) -> None:
    if result.commit is None:
        print(f"{what} already as at {rev} ({result.rev[:10]}); nothing recorded")
    else:
        print(f"restored {what} to {rev} ({result.rev[:10]}); recorded as {result.commit[:10]}")
    for path in result.installed:
        print(f"installed {path}")
