"""`mdadm --detail --export ARRAY` and `mdadm --examine --export DEVICE`: KEY=VALUE lines.

    MD_LEVEL=raid1                      MD_UUID=cbe1de75:a3de4dde:aa860b9b:51365701
    MD_DEVICES=3                        MD_DEV_UUID=f66d422c:e0eaf696:10f0ca17:619f6f48
    MD_DEVICE_dev_vdc_ROLE=2            MD_EVENTS=15            (--examine)
    MD_DEVICE_dev_vdc_DEV=/dev/vdc

A line that is not KEY=VALUE, or a known key with a value of the wrong form, is a
FormatError naming the line; unknown keys are kept (mdadm adds keys between versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from atlas_ha.errors import FormatError

LINE_RE = re.compile(r"^([A-Z][A-Z0-9_]*|MD_DEVICE_[A-Za-z0-9_.:-]+)=(.*)$")
DEVICE_RE = re.compile(r"^MD_DEVICE_(.+)_(ROLE|DEV)$")
UUID_RE = re.compile(r"^[0-9a-f]{8}(?::[0-9a-f]{8}){3}$")
ROLE_WORDS = {"spare", "faulty", "journal"}


def decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" or "፩", which int() refuses."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class DetailMember:
    key: str  # the device part of the key: "dev_vdc"
    device: str  # MD_DEVICE_*_DEV: "/dev/vdc"
    role: int | None  # the slot; None for a spare, faulty or journal device
    role_word: str | None = None  # "spare", "faulty", "journal"


@dataclass(frozen=True)
class Detail:
    level: str
    devices: int  # raid devices (slots)
    uuid: str
    members: tuple[DetailMember, ...]
    values: dict[str, str] = field(default_factory=dict)

    def member(self, device: str) -> DetailMember | None:
        return next((m for m in self.members if m.device == device), None)


@dataclass(frozen=True)
class Examine:
    uuid: str  # the array's
    dev_uuid: str | None  # the member's own (metadata 1.x)
    events: int
    level: str
    devices: int
    values: dict[str, str] = field(default_factory=dict)


def _pairs(text: str, where: str) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = LINE_RE.match(line.strip())
        if not m:
            raise FormatError(where, number, "expected KEY=VALUE (mdadm --export)")
        found.append((number, m.group(1), m.group(2)))
    return found


def _required(values: dict[str, str], key: str, where: str) -> str:
    if key not in values:
        raise FormatError(where, None, f"expected {key}= (is this mdadm --export output?)")
    return values[key]


def _number(values: dict[str, str], key: str, where: str) -> int:
    text = _required(values, key, where)
    if not decimal(text):
        raise FormatError(where, None, f"{key}={text!r}: expected a number")
    return int(text)


def _uuid(values: dict[str, str], key: str, where: str) -> str:
    text = _required(values, key, where)
    if not UUID_RE.match(text):
        raise FormatError(where, None, f"{key}={text!r}: expected 4 groups of 8 hex digits")
    return text


def parse_detail(text: str, where: str = "mdadm --detail --export") -> Detail:
    values: dict[str, str] = {}
    devs: dict[str, dict[str, str]] = {}
    for number, key, value in _pairs(text, where):
        if m := DEVICE_RE.match(key):
            slot = devs.setdefault(m.group(1), {})
            if m.group(2) == "ROLE" and not (decimal(value) or value in ROLE_WORDS):
                raise FormatError(
                    where, number, f"{key}={value!r}: expected a slot or {ROLE_WORDS}"
                )
            slot[m.group(2)] = value
        else:
            values[key] = value
    members = []
    for key, parts in devs.items():
        if "DEV" not in parts or "ROLE" not in parts:
            raise FormatError(where, None, f"MD_DEVICE_{key}: expected both _ROLE and _DEV")
        role = parts["ROLE"]
        members.append(
            DetailMember(
                key,
                parts["DEV"],
                int(role) if decimal(role) else None,
                None if decimal(role) else role,
            )
        )
    members.sort(key=lambda m: (m.role is None, m.role or 0, m.device))
    return Detail(
        level=_required(values, "MD_LEVEL", where),
        devices=_number(values, "MD_DEVICES", where),
        uuid=_uuid(values, "MD_UUID", where),
        members=tuple(members),
        values=values,
    )


def parse_examine(text: str, where: str = "mdadm --examine --export") -> Examine:
    values = {key: value for _, key, value in _pairs(text, where)}
    return Examine(
        uuid=_uuid(values, "MD_UUID", where),
        dev_uuid=_uuid(values, "MD_DEV_UUID", where) if "MD_DEV_UUID" in values else None,
        events=_number(values, "MD_EVENTS", where),
        level=_required(values, "MD_LEVEL", where),
        devices=_number(values, "MD_DEVICES", where),
        values=values,
    )
