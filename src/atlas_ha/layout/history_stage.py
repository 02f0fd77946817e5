"""Which paths a history record stages (layout/history.py): our private files, and the
targeted stage of an area by the objects its Manifest says changed.

The invariant that makes a targeted stage safe: it is right only when git's index holds
exactly the area as the *old* Manifest the change list is computed from describes it (and
the area now holds exactly what its new Manifest describes: the caller's promise, see
`History.record`). So an area qualifies only when the index is the one the last completed
record left (its stat), the area has a stamp (its last record completed and none was killed
since: layout/history_stamps.py), and HEAD's copy of its Manifest is the one the stamp names
(read from git, checked by its sha256). Anything else (a first record, a killed record, a
restore, an index another writer changed) stages the area whole with `git add -A`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

from atlas_ha.layout import manifest_diff
from atlas_ha.layout.manifest_diff import Staging
from atlas_ha.layout.sid import FLAGS, SEV_FILE
from atlas_ha.system import Completed
from atlas_ha.text import NAMES

Git = Callable[..., Completed]  # History.git
_TMP = re.compile(r"^\..*\.atlas-tmp\.")


def is_private(name: str) -> bool:
    """Mirrors layout.sid.GITIGNORE for files an `add --force` may have staged."""
    parts = name.split("/")
    base = parts[-1]
    if _TMP.match(base) or parts[0].startswith("."):
        return True
    in_area_dir = len(parts) == 3 and base in FLAGS  # ROLE/EnvN/<flag>
    return in_area_dir or (len(parts) == 2 and base == SEV_FILE)


def plan(
    git: Git, texts: Mapping[str, bytes], shas: Mapping[str, str], known: Mapping[str, str]
) -> dict[str, Staging]:
    """What to stage of each area of `texts` ({area: its new Manifest}, `shas` their sha256)
    that qualifies (see the module doc; the caller checked the index's stat): an empty
    Staging for an area whose Manifest is the one its stamp names. Areas left out are staged
    whole."""
    found = {}
    for area, text in texts.items():
        stamp = known.get(area)
        if stamp is None:
            continue
        if stamp == shas[area]:
            found[area] = Staging()  # unchanged since its last record
            continue
        done = git("cat-file", "blob", f"HEAD:{area}/Manifest", check=False)
        old = done.stdout.encode("utf-8", NAMES)
        if done.returncode != 0 or hashlib.sha256(old).hexdigest() != stamp:
            continue
        found[area] = manifest_diff.staging(area, done.stdout, text.decode("utf-8", NAMES))
    return found


def stage_changed(git: Git, planned: Mapping[str, Staging]) -> bool:
    """Stage exactly the paths of `planned`; whether anything was staged.

    `update-index` takes exact paths on stdin (no pathspec: a path in neither the work tree
    nor the index is no error; no ignore rules, so a synced .gitignore hides nothing here
    either, as `add --force` does for a whole area). Removals first, with --force-remove: a
    removed file may now be a directory, or lie beyond a symlink; the removals also clear
    the way for a file that became a directory, or back (--replace is only a second guard).
    Then the present ones. Our private files are left out by name. A non-empty staging
    always includes the area's Manifest, whose content differs from the one HEAD holds: it
    is a change."""
    gone = [p for s in planned.values() for p in s.gone if not is_private(p)]
    present = [p for s in planned.values() for p in s.present if not is_private(p)]
    if gone:
        git("update-index", "--force-remove", "-z", "--stdin", input_text=_nul(gone))
    if present:
        flags = ("--add", "--remove", "--replace")
        git("update-index", *flags, "-z", "--stdin", input_text=_nul(present))
    return bool(present or gone)


def _nul(paths: list[str]) -> str:
    return "".join(f"{p}\0" for p in paths)
