"""Servers without chrony (a stock installation that never installed it): the chrony aspect's
paths are listed and absent on every EnvVersion, and a Debian PRI compares equal to a RHEL
SEC (the Debian directories are absent on both sides, not "only on PRI")."""

from __future__ import annotations

import shutil
from pathlib import Path

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle


def quiet(_line: str) -> None:
    pass


def test_a_group_without_chrony_compares_equal_across_layouts(tmp_path: Path) -> None:
    group = SimGroup(tmp_path / "g")
    group.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in group.servers:
        for path in ("/etc/chrony", "/etc/chrony.conf"):
            found = group.servers[name].file(path)
            if found.is_dir():
                shutil.rmtree(found)
            elif found.exists():
                found.unlink()
        group.boot(name)
    report = cycle(group.servers["A"].server(quiet))
    assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal", "SEC2": "equal"}
    assert not group.servers["B"].file("/etc/chrony.conf").exists()  # nothing was invented
    assert not group.servers["C"].file("/etc/chrony").exists()
