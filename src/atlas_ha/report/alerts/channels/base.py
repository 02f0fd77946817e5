"""The alert channel plugin API: one class per channel type, one method to implement.

An entry point of the group `atlas_ha.alert_channels` names a Channel subclass. It is built
from the `[channels.NAME]` table of the rules file (`options`, validated in `__init__`:
raise AlertRulesError naming the option); `send` delivers one notification and returns a
short detail for the delivery record (a server's answer, a program's output), or raises
ChannelError. Nothing else may escape: the caller records the outcome and retries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from atlas_ha.errors import AlertRulesError
from atlas_ha.report.alerts.model import Notification


class Channel(ABC):
    def __init__(self, name: str, options: dict[str, Any], source: Path) -> None:
        self.name, self.options, self.source = name, dict(options), source

    @abstractmethod
    def send(self, notification: Notification) -> str:
        """Deliver `notification`; a short detail for the record, or ChannelError."""

    # -- option helpers for subclasses (errors name the file and the option) ----------------
    def bad(self, key: str, expected: str) -> AlertRulesError:
        return AlertRulesError(self.source, None, f"channels.{self.name}: {key} = {expected}")

    def known(self, keys: set[str]) -> None:
        unknown = sorted(set(self.options) - keys)
        if unknown:
            raise self.bad(unknown[0], f"not an option (known: {', '.join(sorted(keys))})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.options.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.bad(key, "a non-empty string")
        return value

    def texts(self, key: str) -> list[str]:
        value = self.options.get(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.bad(key, "a string or a non-empty list of strings")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.bad(key, "a number > 0")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise self.bad(key, "true or false")
        return value
