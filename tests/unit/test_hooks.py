"""Hook events (hooks.py): one dispatcher for the site's programs and the in-process listeners
(entry points atlas_ha.listeners); a failing one is alerted, never fatal."""

from __future__ import annotations

import json
import os
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from atlas_ha import hooks, plugins
from atlas_ha.context import Server
from atlas_ha.errors import PluginError
from atlas_ha.settings import load


def _record(server: Server, event: hooks.Event) -> None:
    # the entry point imports this module anew (not pytest's copy): record in a file
    with open(os.environ["HOOK_TEST_SEEN"], "a") as seen:
        seen.write(json.dumps([event.name, event.role, list(event.changed)]) + "\n")


def seen(tmp_path: Path) -> list[list[object]]:
    path = tmp_path / "seen"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _fail(server: Server, event: hooks.Event) -> None:
    raise RuntimeError("listener broke")


RECORDER = hooks.Listener("after_install", _record)
BROKEN = hooks.Listener("after_install", _fail)
NOT_A_LISTENER = object()


@pytest.fixture
def server(tmp_path: Path) -> tuple[Server, list[str]]:
    marks = tmp_path / "marks"
    config = tmp_path / "atlas-ha.toml"
    config.write_text(
        f'name = "B"\nsystem_root = "{tmp_path}"\nesd_data = "{tmp_path}/esd"\n'
        f'sid_data = "{tmp_path}/sid"\n[hooks]\n'
        f'after_install = ["sh -c \\"cat >> {marks}\\""]\n'
    )
    os.environ["HOOK_TEST_SEEN"] = str(tmp_path / "seen")
    lines: list[str] = []
    return Server(load(config), log=lines.append), lines


def listeners(monkeypatch: pytest.MonkeyPatch, **points: str) -> None:
    entries = {
        name: EntryPoint(name, f"tests.unit.test_hooks:{value}", plugins.LISTENERS)
        for name, value in points.items()
    }
    real = plugins._points
    monkeypatch.setattr(
        plugins, "_points", lambda g: entries if g == plugins.LISTENERS else real(g)
    )


def test_the_verifier_registers_as_a_listener() -> None:
    names = plugins.names(plugins.LISTENERS)
    assert {"verifier-setup", "verifier-after-install"} <= set(names)
    events = {listener.event for _name, listener in hooks.listeners("before_create")}
    assert events == {"before_create"}


def test_programs_then_listeners_and_a_failure_is_alerted(
    server: tuple[Server, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    srv, lines = server
    listeners(monkeypatch, a_broken="BROKEN", b_recorder="RECORDER")
    hooks.emit(srv, hooks.Event("after_install", "SEC1", ("/etc/app/app.conf",)))
    assert (tmp_path / "marks").read_text() == "/etc/app/app.conf\n"  # the site's program
    assert seen(tmp_path) == [["after_install", "SEC1", ["/etc/app/app.conf"]]]
    assert any("after_install listener a_broken failed: listener broke" in x for x in lines)


def test_nothing_changed_runs_no_after_install_program_but_the_listeners(
    server: tuple[Server, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    srv, _lines = server
    listeners(monkeypatch, recorder="RECORDER")
    hooks.emit(srv, hooks.Event("after_install", "SEC1"))
    assert not (tmp_path / "marks").exists()
    assert seen(tmp_path) == [["after_install", "SEC1", []]]


def test_a_listener_entry_point_that_is_not_a_listener_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listeners(monkeypatch, odd="NOT_A_LISTENER")
    with pytest.raises(PluginError, match=r"'odd' is not a hooks\.Listener"):
        hooks.listeners("after_install")


def test_an_unknown_event_is_refused(server: tuple[Server, list[str]]) -> None:
    with pytest.raises(ValueError, match="unknown hook event"):
        hooks.emit(server[0], hooks.Event("before_lunch", "PRI"))
