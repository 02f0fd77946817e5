"""The example settings the package ships (packaging/atlas-ha.toml.example) are valid."""

from __future__ import annotations

from pathlib import Path

from atlas_ha import settings

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging/atlas-ha.toml.example"


def test_the_shipped_example_settings_load() -> None:
    loaded = settings.load(EXAMPLE)
    assert loaded.name == "A"
    assert str(loaded.sid_data) == "/srv/unbound/SID_DATA"
    assert loaded.transport == "ssh"
