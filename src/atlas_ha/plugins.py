"""One plugin mechanism for every backend family: entry points, discovered by name.

    family (entry point group)   what an entry point names              example
    atlas_ha.transports          a `transport.base.Transport` class     local, ssh
    atlas_ha.aspects             a `converters.aspects.Aspect`          identity, nginx
    atlas_ha.verifiers           a `verifier.api.Verifier` class        http, postgresql
    atlas_ha.listeners           a `hooks.Listener`                     verifier-setup
    atlas_ha.alert_channels      a `report.alerts.channels.base.Channel` email, program

A backend is one module plus one entry point (in pyproject.toml, or in any installed
distribution: a site's own plugin package). Nothing here imports a backend until it is
asked for; a backend whose module cannot be imported (an optional dependency missing) is
disabled with a message naming what is missing, and the others still load.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from atlas_ha.errors import PluginError

TRANSPORTS = "atlas_ha.transports"
ASPECTS = "atlas_ha.aspects"
VERIFIERS = "atlas_ha.verifiers"
LISTENERS = "atlas_ha.listeners"
ALERT_CHANNELS = "atlas_ha.alert_channels"


@functools.cache
def _points(group: str) -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=group)}


def names(group: str) -> list[str]:
    """The installed backends of `group`, by name, without loading any."""
    return sorted(_points(group))


def load(group: str, name: str) -> object:
    """The backend `name` of `group`; PluginError when it is not installed or cannot load."""
    point = _points(group).get(name)
    if point is None:
        raise PluginError(
            f"{group}: no backend {name!r} is installed (installed: {', '.join(names(group))})"
        )
    return _load(point, group)


@functools.cache
def _load(point: EntryPoint, group: str) -> object:
    try:
        return point.load()
    except ImportError as exc:
        missing = f" (needs {exc.name})" if exc.name else ""
        raise PluginError(
            f"{group}: backend {point.name!r} = {point.value} cannot load{missing}: {exc}"
        ) from exc
    except (AttributeError, SyntaxError) as exc:
        raise PluginError(
            f"{group}: backend {point.name!r} = {point.value} is broken: {exc}"
        ) from exc


def load_all(group: str) -> tuple[dict[str, object], list[str]]:
    """Every backend of `group` that loads, by name, and a message for each that does not."""
    loaded: dict[str, object] = {}
    disabled: list[str] = []
    for name in names(group):
        try:
            loaded[name] = load(group, name)
        except PluginError as exc:
            disabled.append(str(exc))
    return loaded, disabled
