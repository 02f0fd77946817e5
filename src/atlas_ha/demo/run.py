"""Which stage `atlas-ha demo` plays on, and the play."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from atlas_ha.demo.lab_stage import LabStage
from atlas_ha.demo.narrator import Narrator
from atlas_ha.demo.script import perform
from atlas_ha.demo.sim_stage import SimStage
from atlas_ha.demo.stage import Stage

LAB_NEEDS = ("/usr/sbin/sshd", "/usr/sbin/nginx")


def lab_possible() -> str | None:
    """ "netns" as root with iproute2, "loopback" without root, None without sshd and nginx."""
    if not all(Path(t).exists() for t in LAB_NEEDS):
        return None
    return "netns" if os.geteuid() == 0 and shutil.which("ip") else "loopback"


def run_demo(base: Path, local: bool = False, down: bool = False, loopback: bool = False) -> int:
    """The demo in directory `base`: on the lab when this machine allows it (namespaces as
    root, else or with `loopback` loopback addresses), on the simulation with `local` or
    without sshd and nginx; `down`: take it down (remove it) at the end. Its exit code."""
    say = Narrator()
    mode = None if local else lab_possible()
    stage: Stage
    if mode is not None:
        stage = LabStage(base, loopback=loopback or mode == "loopback", down=down)
    else:
        if not local:
            say.paragraph(
                "atlas-ha demo: the lab needs OpenSSH's sshd and nginx; running the "
                "filesystem-only simulation (local transport, no services) instead."
            )
        stage = SimStage(base, down=down)
    return perform(stage, say)
