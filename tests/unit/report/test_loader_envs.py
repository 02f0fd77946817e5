"""The status model's loader keeps what each SEC last sent (its EnvVersion, from the git
history) while the history's tip is the same, and reads it again after any commit."""

from __future__ import annotations

from atlas_ha.lab.group import SimGroup
from atlas_ha.report import loader
from atlas_ha.sync.cycle import cycle


def quiet(_line: str) -> None:
    pass


def test_received_envs_are_kept_per_history_tip(group: SimGroup) -> None:
    pri = group.servers["A"].server(quiet)
    cycle(pri)
    assert loader.received_envs(pri, ["SEC1", "SEC2"]) == {"SEC1": 1, "SEC2": 3}
    stamp = pri.history.stamp()
    assert stamp and pri.history.stamp() == stamp  # no git run, the same while nothing commits
    key = str(pri.sid.root)
    loader._RECEIVED[key] = (stamp, {"SEC1": 99})  # what the cache holds is what is answered
    assert loader.received_envs(pri, ["SEC1"]) == {"SEC1": 99}
    pri.history.note("test", "PRI", 2, {})  # any commit: a new tip
    assert pri.history.stamp() != stamp
    assert loader.received_envs(pri, ["SEC1", "SEC2"]) == {"SEC1": 1, "SEC2": 3}
