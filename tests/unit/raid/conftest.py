"""A fake sysfs tree of md arrays (what the kernel shows under SYS/block/mdN/md)."""

from __future__ import annotations

from pathlib import Path

DEFAULTS = {
    "array_state": "clean",
    "level": "raid1",
    "raid_disks": "3",
    "degraded": "0",
    "sync_action": "idle",
    "sync_completed": "none",
    "mismatch_cnt": "0",
    "last_sync_action": "check",
    "sync_speed": "none",
    "component_size": "7168",
}


def make_md(
    sys_root: Path,
    name: str = "md0",
    devices: dict[str, tuple[str, str]] | None = None,
    **attrs: str,
) -> Path:
    """`devices`: kernel name -> (state, slot); default three in-sync members vda vdb vdc."""
    md = sys_root / "block" / name / "md"
    md.mkdir(parents=True, exist_ok=True)
    for key, value in {**DEFAULTS, **attrs}.items():
        (md / key).write_text(value + "\n")
    if devices is None:
        devices = {"vda": ("in_sync", "0"), "vdb": ("in_sync", "1"), "vdc": ("in_sync", "2")}
    for dev, (state, slot) in devices.items():
        (md / f"dev-{dev}").mkdir(exist_ok=True)
        (md / f"dev-{dev}" / "state").write_text(state + "\n")
        (md / f"dev-{dev}" / "slot").write_text(slot + "\n")
    return sys_root
