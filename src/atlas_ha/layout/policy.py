"""The receive policy: which objects a received snapshot may carry into a system root.

A partner's snapshot is installed into this server's system root (SyncFiles by Install,
IdentFiles by a later Role/Identity Install), so a few kinds of objects are judged before a
received area can become valid, whatever the sender says about them. Each rule has an
action, set in the `[receive]` table of the settings:

    refuse   the area stays InvalidSend, nothing of it is ever installed (ReceiveError
             naming the area, the object, the rule and the setting that would accept it)
    flag     accepted, reported: an ALERT line in the receiver's log, the receive-commit
             answer (the sender logs it too) and `SID_DATA/<ROLE>/PolicyFlagged.json`
             (shown by `atlas-ha status`) until the next receive of that role
    allow    accepted silently

Rules (only SyncFiles and IdentFiles objects are judged: the area's own path lists are
never installed; their mode must match the Manifest, see sync.receive):

    setuid               default refuse: a regular file with the setuid or setgid bit
                         (mode & 0o6000). Directories are not judged: a setgid directory
                         only passes its group on to new entries.
    world_writable       default refuse: a regular file or directory anyone may write
                         (mode & 0o002), sticky directories (/tmp-style 01777) included: a
                         directory of configuration that any local user can add entries to
                         is as dangerous as a writable file. Symlinks carry no mode.
    symlink_out_of_root  default flag: a symlink whose target, resolved in the system
                         root, leaves it. An absolute target starts at the system root (it
                         is installed as is: on a server whose system root is not / it
                         points to that root only after a chroot); a relative one starts at
                         the link's directory; '..' above / leaves the root (the kernel
                         would stop at /, a system root below / would be left). Symlinks the
                         same snapshot carries are followed on the way (up to 40, as the
                         kernel does; more is judged as leaving), so a chain of links each
                         harmless alone is caught; components the snapshot does not carry
                         are taken as plain directories.
    shadow_mode          default refuse: a shadow-class path (/etc/shadow, /etc/gshadow,
                         /etc/shadow-, /etc/gshadow- and the `shadow_files` setting; a
                         listed directory covers its tree) holding a file with a mode bit
                         outside 0o640, a directory with one outside 0o750, or a symlink
                         (what it points to is not judged).

Also in `[receive]`: `envs_ahead` (default 8), how many EnvVersions beyond its own a
receiver accepts (see sync.receive). Everything here is pure: no I/O.
"""

from __future__ import annotations

import stat
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.errors import FormatError, SettingsError
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.manifest import Entry, Manifest

ACTIONS = ("refuse", "flag", "allow")
RULES = {
    "setuid": "refuse",
    "world_writable": "refuse",
    "symlink_out_of_root": "flag",
    "shadow_mode": "refuse",
}
SHADOW_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
SHADOW_FILE_MODE = 0o640
SHADOW_DIR_MODE = 0o750
ENVS_AHEAD = 8
MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS
TABLE_KEYS = (*RULES, "shadow_files", "envs_ahead")
TREES = ("SyncFiles", "IdentFiles")
SUSPECT_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH


@dataclass(frozen=True)
class ReceivePolicy:
    """The `[receive]` settings: an action per rule, the extra shadow-class paths."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(RULES))
    shadow_files: tuple[str, ...] = ()
    envs_ahead: int = ENVS_AHEAD

    def action(self, rule: str) -> str:
        return self.actions.get(rule, RULES[rule])

    @property
    def shadow_paths(self) -> tuple[str, ...]:
        return SHADOW_FILES + tuple(p for p in self.shadow_files if p not in SHADOW_FILES)


@dataclass(frozen=True)
class Finding:
    """One object a rule objects to, with the action the policy takes."""

    rule: str
    action: str
    tree: str
    path: str
    detail: str

    @property
    def object(self) -> str:
        return f"{self.tree}{self.path}"

    def __str__(self) -> str:
        return f"{self.object} {self.detail} [{self.rule} = {self.action}]"


def parse_table(raw: object, where: Path) -> ReceivePolicy:
    """The ReceivePolicy of a `[receive]` settings table; SettingsError naming `where`."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: [receive] must be a table")
    unknown = sorted(set(raw) - set(TABLE_KEYS))
    if unknown:
        raise SettingsError(f"{where}: [receive] unknown keys {unknown}; expected {TABLE_KEYS}")
    actions = dict(RULES)
    for rule in RULES:
        value = raw.get(rule, RULES[rule])
        if value not in ACTIONS:
            raise SettingsError(
                f"{where}: [receive] {rule} = one of {ACTIONS} (default {RULES[rule]!r}), "
                f"got {value!r}"
            )
        actions[rule] = value
    shadow = raw.get("shadow_files", [])
    if not isinstance(shadow, list) or not all(isinstance(p, str) for p in shadow):
        raise SettingsError(f"{where}: [receive] shadow_files = a list of absolute paths")
    try:
        extra = tuple(
            paths_mod.normalise(p, f"{where} [receive] shadow_files", None) for p in shadow
        )
    except FormatError as exc:
        raise SettingsError(str(exc)) from exc
    ahead = raw.get("envs_ahead", ENVS_AHEAD)
    if type(ahead) is not int or not 0 <= ahead <= 1000:
        raise SettingsError(
            f"{where}: [receive] envs_ahead = an integer 0..1000 (default {ENVS_AHEAD}), "
            f"got {ahead!r}"
        )
    return ReceivePolicy(actions, extra, ahead)


def judge(manifest: Manifest, policy: ReceivePolicy) -> list[Finding]:
    """Every object of `manifest` a rule objects to and whose action is not allow, in
    Manifest order (tree, path; the rules of one object in the order of RULES)."""
    links = {
        t: {p: e.target for (tt, p), e in manifest.items() if tt == t and e.type == "symlink"}
        for t in TREES
    }
    resolve = {t: ChainMap(links[t], links[o]) for t, o in zip(TREES, TREES[::-1], strict=True)}
    shadow = set(policy.shadow_paths)
    below = tuple(p + "/" for p in shadow)
    findings: list[Finding] = []
    for (tree, path), entry in manifest.items():
        if tree not in TREES or entry.type == "absent":
            continue
        shadow_class = path in shadow or path.startswith(below)
        if entry.type != "symlink" and not entry.mode & SUSPECT_BITS and not shadow_class:
            continue  # nearly every object: nothing to look at
        for rule, detail in _objections(entry, resolve[tree], shadow_class):
            action = policy.action(rule)
            if action != "allow":
                findings.append(Finding(rule, action, tree, path, detail))
    return sorted(findings, key=lambda f: (TREES.index(f.tree), f.path))


def _objections(
    entry: Entry, links: Mapping[str, str], shadow_class: bool
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    mode = entry.mode
    if entry.type == "file" and mode & (stat.S_ISUID | stat.S_ISGID):
        found.append(("setuid", f"is setuid/setgid (mode {mode:04o})"))
    if entry.type in ("file", "dir") and mode & stat.S_IWOTH:
        found.append(("world_writable", f"is world-writable (mode {mode:04o})"))
    if entry.type == "symlink" and leaves_root(entry.path, entry.target, links):
        found.append(("symlink_out_of_root", f"-> {entry.target} leaves the system root"))
    if shadow_class:
        if entry.type == "symlink":
            found.append(("shadow_mode", "is a symlink at a shadow-class path"))
        else:
            limit = SHADOW_FILE_MODE if entry.type == "file" else SHADOW_DIR_MODE
            if mode & ~limit:
                found.append(
                    ("shadow_mode", f"has mode {mode:04o}, looser than {limit:04o} (shadow-class)")
                )
    return found


def leaves_root(link: str, target: str, links: Mapping[str, str]) -> bool:
    """Whether the symlink at system path `link` with `target` points outside the system
    root (see the module doc); `links`: the other symlinks installed with it, by path."""
    stack = [] if target.startswith("/") else link.strip("/").split("/")[:-1]
    pending = [c for c in reversed(target.split("/")) if c not in ("", ".")]
    hops = 0
    while pending:
        name = pending.pop()
        if name == "..":
            if not stack:
                return True
            stack.pop()
            continue
        stack.append(name)
        followed = links.get("/" + "/".join(stack))
        if followed is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return True
        stack.pop()
        if followed.startswith("/"):
            stack = []
        pending += [c for c in reversed(followed.split("/")) if c not in ("", ".")]
    return False
