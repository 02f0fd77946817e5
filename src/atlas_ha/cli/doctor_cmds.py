"""`atlas-ha doctor`: render the preflight (doctor/checks.py)."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.errors import EXIT_DOCTOR
from atlas_ha.settings import locate


def register(sub: Any) -> None:
    p = sub.add_parser(
        "doctor", help="check this server and its partners: would a first cycle work?"
    )
    p.add_argument("--offline", action="store_true", help="no hello to the partners")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from atlas_ha.doctor.checks import doctor

    report = doctor(locate(args.config), online=not args.offline)
    for check in report.checks:
        print(check.line())
    bad = len(report.failing())
    print(f"doctor: {'green' if report.ok else f'{bad} check(s) FAIL'}")
    return 0 if report.ok else EXIT_DOCTOR
