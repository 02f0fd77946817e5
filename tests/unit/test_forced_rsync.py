"""The forced command's rsync checks (transport/forced.py), without a lab: exactly our own
sender's options, only into (or, reading, only from) Env<N>/ of the granted role area, never
through a symlink, only while a live grant exists."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from atlas_ha.errors import RefusedError
from atlas_ha.layout.sid import grant_file, send_grant_file
from atlas_ha.transport.forced import checked_rsync, granted_root, granted_send_root

PEER = "198.51.100.12"
# what `rsync -a --delete --modify-window=-1 --numeric-ids` runs on the receiving side
RECEIVING = ["rsync", "--server", "-logDtpre.iLsfxCIvu", "--delete", "--numeric-ids", "-@-1"]
SENDING = ["rsync", "--server", "--sender", "-logDtpre.iLsfxCIvu", "--numeric-ids"]


def test_our_own_receiving_rsync_is_accepted(tmp_path: Path) -> None:
    assert checked_rsync([*RECEIVING, ".", "Env2/"], tmp_path, PEER, [1, 2]) == "Env2/"
    assert checked_rsync([*RECEIVING, ".", "Env1"], tmp_path, PEER) == "Env1"


@pytest.mark.parametrize(
    "option",
    [
        "--keep-dirlinks",
        "--copy-links",
        "-L",
        "--rsync-path=sh",
        "--files-from=/etc/shadow",
        "--remove-source-files",
        "-logDtpre.iLsfxCIvu;id",
        "--log-file=/tmp/x",
        "--write-devices",
    ],
)
def test_any_other_option_is_refused(tmp_path: Path, option: str) -> None:
    with pytest.raises(RefusedError, match=r"option .* is not allowed"):
        checked_rsync([*RECEIVING, option, ".", "Env1/"], tmp_path, PEER)


@pytest.mark.parametrize(
    "dest",
    ["../PRI/Env1/", "/etc/", "Env1/../../", "Env1/sub/", "Env0/", "Env01/", "SyncFiles/", ""],
)
def test_destinations_outside_an_area_are_refused(tmp_path: Path, dest: str) -> None:
    with pytest.raises(RefusedError, match="is not Env<N>/"):
        checked_rsync([*RECEIVING, ".", dest], tmp_path, PEER)


def test_the_shape_of_the_command_is_fixed(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match=r"expected `rsync --server OPTS \. DIR`"):
        checked_rsync([*RECEIVING, "/", "Env1/"], tmp_path, PEER)
    with pytest.raises(RefusedError, match="expected"):
        checked_rsync(["rsync", "--server"], tmp_path, PEER)


def test_only_the_granted_areas(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match="not one of the areas granted for this receive"):
        checked_rsync([*RECEIVING, ".", "Env3/"], tmp_path, PEER, [1, 2])


def test_never_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "Env1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RefusedError, match="is a symlink"):
        checked_rsync([*RECEIVING, ".", "Env1/"], tmp_path, PEER)


def test_the_reading_side_takes_only_the_pulling_options(tmp_path: Path) -> None:
    (tmp_path / "Env1").mkdir()
    assert checked_rsync([*SENDING, ".", "Env1/"], tmp_path, PEER, [1], sender=True) == "Env1/"
    with pytest.raises(RefusedError, match="option '--delete' is not allowed"):
        checked_rsync([*SENDING, "--delete", ".", "Env1/"], tmp_path, PEER, sender=True)
    with pytest.raises(RefusedError, match="is not a snapshot area"):
        checked_rsync([*SENDING, ".", "Env2/"], tmp_path, PEER, sender=True)


def _grant(
    path: Path, role: str, expires: float, envs: list[int], granted_for: str | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    grant = {"role": role, "expires": expires, "envs": envs}
    path.write_text(json.dumps({**grant, **({"for": granted_for} if granted_for else {})}))


def test_a_write_needs_a_live_receive_grant_for_that_peer(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match="no receive in progress"):
        granted_root(tmp_path, PEER, "SEC1")
    _grant(grant_file(tmp_path, PEER), "SEC1", time.time() - 1, [1])
    with pytest.raises(RefusedError, match="the receive grant expired"):
        granted_root(tmp_path, PEER, "SEC1")
    _grant(grant_file(tmp_path, PEER), "SEC1", time.time() + 60, [1])
    assert granted_root(tmp_path, PEER, "SEC1") == (tmp_path / "SEC1", [1])
    with pytest.raises(RefusedError, match="no receive in progress"):
        granted_root(tmp_path, "198.51.100.13", "SEC1")  # another peer's grant is not ours


def test_a_read_needs_a_send_grant_and_a_real_role_area(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match="no send in progress"):
        granted_send_root(tmp_path, PEER, "PRI")
    _grant(send_grant_file(tmp_path, PEER), "SEC2", time.time() + 60, [3], "PRI")
    with pytest.raises(RefusedError, match="is not a role area"):
        granted_send_root(tmp_path, PEER, "PRI")
    (tmp_path / "SEC2").mkdir()
    assert granted_send_root(tmp_path, PEER, "PRI") == (tmp_path / "SEC2", [3])
