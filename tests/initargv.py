"""The `atlas-ha init` argv of a server set up in a temporary directory `base` (its settings
at base/atlas-ha.toml, its system root, ESD_DATA and SID_DATA below it), shared by the
onboarding scenarios."""

from __future__ import annotations

from pathlib import Path


def init_argv(
    base: Path, name: str, env: int, role: str, partner: str, *more: str, group: str = "acme"
) -> list[str]:
    """`--config ... init` for server `name` at `env` holding `role`, with one `partner`
    (ROLE=ADDRESS); `more` options go after `--env`."""
    return [
        *["--config", str(base / "atlas-ha.toml"), "init"],
        *["--name", name, "--env", str(env), *more],
        *["--system-root", str(base / "root")],
        *["--esd-data", str(base / "esd"), "--sid-data", str(base / "sid")],
        *["--group", group, "--role", role, "--partner", partner],
    ]
