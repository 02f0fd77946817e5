"""Files the Debian package ships that are generated from the program itself.

    generate.py --version V --units DIR --program /usr/bin/atlas-ha --man FILE --completion FILE

The manual page and the bash completion come from the same argparse parser the CLI uses
(argparse-manpage, shtab: dev dependencies), so they cannot drift from the commands; the
systemd units are the shipped ones pointed at the installed program (daemon/systemd.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import shtab
from argparse_manpage.manpage import Manpage

from atlas_ha.cli.main import build_parser
from atlas_ha.daemon.systemd import write_units

INCLUDE = Path(__file__).with_name("atlas-ha.1.include")


def manual_page(version: str) -> str:
    data = {
        "project_name": "atlas-ha",
        "prog": "atlas-ha",
        "version": version,
        "manual_section": "1",
        "manual_title": "atlas-ha manual",
        "description": "cold-failover high availability: Synchronizer and Verifier",
        "url": "https://atlas-ha.invalid/",
        "include": str(INCLUDE),
    }
    parser = build_parser([])
    parser.description = None  # the CLI module's docstring is for developers; the include's is not
    return str(Manpage(parser, _data=data))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--version", required=True)
    ap.add_argument("--units", type=Path, required=True)
    ap.add_argument("--program", type=Path, required=True)
    ap.add_argument("--man", type=Path, required=True)
    ap.add_argument("--completion", type=Path, required=True)
    args = ap.parse_args()
    write_units(args.units, program=args.program)
    args.man.write_text(manual_page(args.version))
    completion = shtab.complete(build_parser([]), shell="bash")  # noqa: S604 (a shell name)
    args.completion.write_text(completion)


if __name__ == "__main__":
    main()
