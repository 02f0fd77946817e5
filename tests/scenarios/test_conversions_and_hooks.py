"""Conversions that cannot be done faithfully fail loudly and leave targets invalid; site
converters (converters/Env<N>); hooks after install get the changed paths."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import states, valid

from atlas_ha.cli.main import main
from atlas_ha.errors import ConversionError
from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import CycleReport

Cycle = Callable[[str], CycleReport]


def test_unconvertible_file_fails_loudly_and_targets_stay_invalid(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    a = group.servers["A"]
    # a maximum password age has no equivalent in Env1's passwd-hash format
    shadow = a.file("/etc/shadow")
    shadow.write_text(
        shadow.read_text().replace(
            "alice:$6$alicesalt$AliceHash0:::::::",
            "alice:$6$alicesalt$AliceHash0:19000:0:90:7:::",
        )
    )
    with pytest.raises(ConversionError) as err:
        run_cycle("A")
    assert (err.value.path, err.value.line) == ("/etc/shadow", 3)
    assert "aging" in str(err.value)
    assert valid(group, "A", "PRI") == []  # (PRI,2) created but InvalidVersions: none usable
    assert group.servers["A"].server().sid.area("PRI", 2).flags() == ["InvalidVersions"]
    # the SECs still hold the last good snapshot; nothing invalid reached them
    assert valid(group, "B", "PRI") == [1, 2]


def test_stock_default_aging_syncs_to_env1_and_compares_equal(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """Debian's default aging (`:19700:0:99999:7:::` on every line) has no effect: the Env1
    SEC gets the hashes, and Compare reads its snapshot (aging empty again) as equal."""
    a = group.servers["A"]
    shadow = a.file("/etc/shadow")
    lines = shadow.read_text().splitlines()
    stock = [
        ":".join([*line.split(":")[:2], "19700", "0", "99999", "7", "", "", ""]) for line in lines
    ]
    shadow.write_text("\n".join(stock) + "\n")
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert b"$6$alicesalt$AliceHash0" in group.servers["B"].file("/etc/passwd").read_bytes()
    # the Env1 SEC's snapshot, converted up for Compare, holds the aging empty (never invented)
    sec = a.server().sid.area("SEC1", 2).copy_path("SyncFiles", "/etc/shadow").read_text()
    assert "alice:$6$alicesalt$AliceHash0:::::::" in sec


def test_cycle_cli_reports_the_conversion_error(
    group: SimGroup, run_cycle: Cycle, capsys: object
) -> None:
    run_cycle("A")
    a = group.servers["A"]
    a.file("/etc/nginx/sites-enabled/broken.conf").write_text("server {}\n")
    code = main(["--config", str(a.config), "sync", "cycle"])
    assert code == 4  # ConversionError
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "/etc/nginx/sites-enabled/broken.conf" in err
    assert valid(group, "A", "PRI") == []


def test_site_converter_runs_in_the_chain(group: SimGroup, run_cycle: Cycle) -> None:
    c = group.servers["C"]  # Env3: converts PRI 2 -> 3 with its own Env3 site converter
    program = c.base / "esd" / "converters" / "Env3"
    program.write_text(
        '#!/bin/sh\nset -e\n[ "$1" = up ] || exit 0\n'
        "printf 'converted by site\\n' > \"$3/SyncFiles/etc/app/site-note\"\n"
    )
    program.chmod(0o755)
    report = run_cycle("A")
    assert states(report)["SEC1"] == "equal"
    assert c.file("/etc/app/site-note").read_text() == "converted by site\n"
    # the SEC2 snapshot converted down (no site file in Env2) differs from the PRI's
    assert states(report)["SEC2"] == "different"
    program.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    report = run_cycle("A")
    sec2 = next(s for s in report.secs if s.sec == "SEC2")
    assert not sec2.reached and "site converter Env3" in sec2.error


def test_after_install_hook_gets_changed_paths(group: SimGroup, run_cycle: Cycle) -> None:
    b = group.servers["B"]
    out = b.base / "hook.out"
    hook = b.base / "hook.sh"
    hook.write_text(f'#!/bin/sh\ncat > {out}\necho "$ATLAS_HA_ROLE $ATLAS_HA_EVENT" >> {out}\n')
    hook.chmod(0o755)
    with b.config.open("a") as f:
        f.write(f'\n[hooks]\nafter_install = ["{hook}"]\n')
    run_cycle("A")
    lines = out.read_text().splitlines()
    assert "/etc/nginx/conf.d/www.conf" in lines and lines[-1] == "SEC1 after_install"
    out.unlink()
    run_cycle("A")  # nothing changed: no reload
    assert not out.exists()
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 5\n")
    run_cycle("A")
    assert out.read_text().splitlines()[:-1] == ["/etc/app/app.conf"]


def test_status_json_and_exit_codes(group: SimGroup, run_cycle: Cycle, capsys: object) -> None:
    run_cycle("A")
    config = str(group.servers["A"].config)
    assert main(["--config", config, "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert data["role"] == "PRI" and data["env_id"] == 2
    assert data["roles"]["PRI"]["sev"] == 2
    assert data["roles"]["PRI"]["areas"] == {"Env1": "valid", "Env2": "valid"}
    assert [c["state"] for c in data["last_cycle"]["compare"]] == ["equal", "equal"]
    assert main(["--config", config, "sync", "install"]) == 7  # RoleError: not on PRI
    b = str(group.servers["B"].config)
    assert main(["--config", b, "sync", "compare"]) == 7
    assert main(["--config", str(Path("/nonexistent/atlas.toml")), "status"]) == 2
    os.environ.pop("ATLAS_HA_FAULTS", None)


def test_postgresql_configuration_moves_between_pgdata_and_etc(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """The PRI's tuned PostgreSQL configuration (Env2, /etc/postgresql/15/main) reaches B in
    Env1's PGDATA location and C in Env3's; the OS defaults they had are replaced."""
    a, b, c = (group.servers[n] for n in "ABC")
    assert b"log_connections" not in b.file("/var/lib/pgsql/data/postgresql.conf").read_bytes()
    a.file("/etc/postgresql/15/main/postgresql.conf").write_bytes(
        a.file("/etc/postgresql/15/main/postgresql.conf").read_bytes()
        + b"hba_file = '/etc/postgresql/15/main/pg_hba.conf'\n"
    )
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    on_b = b.file("/var/lib/pgsql/data/postgresql.conf").read_bytes()
    assert b"log_connections = on" in on_b
    assert b"hba_file = '/var/lib/pgsql/data/pg_hba.conf'" in on_b  # path setting moved
    assert not b.file("/etc/postgresql/15/main/postgresql.conf").exists()
    on_c = c.file("/etc/postgresql/15/main/postgresql.conf").read_bytes()
    assert on_c == a.file("/etc/postgresql/15/main/postgresql.conf").read_bytes()
    listed = (b.server().sid.area("PRI", 1).path / "SyncFilePaths").read_text()
    assert "/var/lib/pgsql/data/pg_hba.conf" in listed
    assert "/etc/postgresql" not in listed


def test_chrony_configuration_moves_between_debian_and_rhel_layouts(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """The PRI's chrony.conf (Env2, /etc/chrony/chrony.conf) reaches B in Env1's
    /etc/chrony.conf with its key file in RHEL's place, and C (Env3) byte for byte; a file in
    Debian's sources.d has no place in Env1's layout: the cycle names it, B keeps its own."""
    a, b, c = (group.servers[n] for n in "ABC")
    conf = a.file("/etc/chrony/chrony.conf")
    conf.write_bytes(conf.read_bytes() + b"keyfile /etc/chrony/chrony.keys\nmakestep 1 3\n")
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    on_b = b.file("/etc/chrony.conf").read_bytes()
    assert on_b.endswith(b"keyfile /etc/chrony.keys\nmakestep 1 3\n")
    assert not b.file("/etc/chrony").exists()
    assert c.file("/etc/chrony/chrony.conf").read_bytes() == conf.read_bytes()
    listed = (b.server().sid.area("PRI", 1).path / "SyncFilePaths").read_text()
    assert "/etc/chrony.conf" in listed
    assert "/etc/chrony/" not in listed

    a.file("/etc/chrony/sources.d/acme.sources").write_bytes(b"server 192.0.2.1 iburst\n")
    conf.write_bytes(conf.read_bytes() + b"maxupdateskew 100.0\n")
    with pytest.raises(ConversionError) as err:
        run_cycle("A")
    assert err.value.path == "/etc/chrony/sources.d/acme.sources"
    assert "only /etc/chrony/chrony.conf" in str(err.value)
    assert b"maxupdateskew" not in b.file("/etc/chrony.conf").read_bytes()


def test_the_time_service_lists_chrony_in_each_environments_place(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """The ntp kind's SetUp lists chrony's files of the PRI's layout (Env2: Debian's); the
    conversion puts Env1's place in SEC1's list, so an Install there runs the reload."""
    a, b = group.servers["A"], group.servers["B"]
    services = a.file("/etc/atlas-ha/services.toml")
    services.parent.mkdir(parents=True, exist_ok=True)
    services.write_text(
        '[service.time]\nkind = "ntp"\nreload = ["sh", "-c", "echo x >> {root}/reloads"]\n'
    )
    run_cycle("A")
    listed = "SyncFilePathsSvctimeconfigs"
    on_a = (a.server().sid.area("PRI", 2).path / listed).read_text().split()
    assert on_a == ["/etc/chrony/chrony.conf", "/etc/chrony/conf.d", "/etc/chrony/sources.d"]
    on_b = (b.server().sid.area("PRI", 1).path / listed).read_text().split()
    assert on_b == ["/etc/chrony.conf"]
    before = b.file("/reloads").read_text() if b.file("/reloads").exists() else ""
    conf = a.file("/etc/chrony/chrony.conf")
    conf.write_text(conf.read_text() + "makestep 1 3\n")
    run_cycle("A")
    assert b.file("/reloads").read_text() == before + "x\n"  # SEC1 reloaded chrony
