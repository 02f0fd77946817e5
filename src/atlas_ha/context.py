"""The server an operation runs on: its settings, Bound and Unbound Data, history, side effects."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from atlas_ha.faults import Faults
from atlas_ha.layout.esd import EnvDef, EsdData
from atlas_ha.layout.history import History
from atlas_ha.layout.sid import SidData
from atlas_ha.model import MasterConfig
from atlas_ha.settings import Settings
from atlas_ha.system import Clock, Runner


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Server:
    settings: Settings
    runner: Runner = field(default_factory=Runner)
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    log: Callable[[str], None] = _stderr

    @cached_property
    def sid(self) -> SidData:
        return SidData(self.settings.sid_data, self.faults)

    @cached_property
    def esd(self) -> EsdData:
        return EsdData(self.settings.esd_data)

    @cached_property
    def history(self) -> History:
        return History(self.settings.sid_data, self.settings.name, self.runner, self.log)

    @cached_property
    def env_id(self) -> int:
        return self.esd.env_id()

    @cached_property
    def envs(self) -> dict[int, EnvDef]:
        return self.esd.envs()

    @property
    def name(self) -> str:
        return self.settings.name

    def master(self) -> MasterConfig:
        return self.sid.master_config()

    def role(self) -> str:
        return self.master().role
