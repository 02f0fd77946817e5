"""Role/Identity Install at boot holds the cycle lock (sync/identity.py): the on-demand
ConvertToNewer of the own role and the reading of the area it installs from never overlap a
SyncUp or a SyncCycle, which hold the same lock while they rewrite those areas (a partner's
SyncUp can arrive through sshd while the server still boots)."""

from __future__ import annotations

import shutil
import threading

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.identity import IdentityResult


def quiet(_line: str) -> None:
    pass


def test_boot_waits_for_a_cycle_in_progress_then_converts(group: SimGroup) -> None:
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)  # Env3: only (SEC2,1) left, as in Scenario 3
    c.sid.set_sev("SEC2", 1)
    for env in (2, 3):
        shutil.rmtree(c.sid.area("SEC2", env).path)
        c.sid.converted_marker("SEC2", env).unlink(missing_ok=True)
    results: list[IdentityResult] = []
    booting = threading.Thread(target=lambda: results.append(group.boot("C", quiet)))
    with c.sid.lock("cycle"):  # what a SyncUp arriving now holds
        booting.start()
        booting.join(timeout=1.5)
        assert booting.is_alive(), "boot did not wait for the cycle lock"
        assert not c.sid.area("SEC2", 3).path.exists()  # nothing converted meanwhile
    booting.join(timeout=60)
    assert not booting.is_alive()
    assert results[0].converted == [2, 3]
    c.sid.require_valid("SEC2", 3)
