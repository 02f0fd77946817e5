"""Names that are not UTF-8 over the ssh transport: whole-area rsync, then a delta send whose
JSON carries the names as escapes (issue 9 item 5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.scenarios.test_byte_names import LINK, NAME, TARGET, _put_names, fs

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle
from atlas_ha.transport.ssh import SshConnection

pytestmark = pytest.mark.lab


def quiet(_line: str) -> None:
    pass


def test_names_that_are_not_utf8_travel_over_ssh(
    ssh_group: SimGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = ssh_group.servers["A"]
    _put_names(fs(a.file("/etc/app")))
    report = cycle(a.server(quiet))
    assert all(c.state == "equal" for c in report.compare), [s.error for s in report.secs]
    pushed: list[str] = []
    real = SshConnection.push

    def counting(self: SshConnection, source: Path, dest: str) -> None:
        pushed.append(source.name)
        real(self, source, dest)

    monkeypatch.setattr(SshConnection, "push", counting)
    with open(fs(a.file("/etc/app"), NAME), "wb") as handle:
        handle.write(b"colour = green\n")
    report = cycle(a.server(quiet))
    assert all(c.state == "equal" for c in report.compare), [s.error for s in report.secs]
    for name in ("B", "C"):
        app = fs(ssh_group.servers[name].file("/etc/app"))
        with open(os.path.join(app, NAME), "rb") as handle:
            assert handle.read() == b"colour = green\n"
        assert os.readlink(os.path.join(app, LINK)) == TARGET
    assert pushed == []  # the change travelled as a delta (JSON over the session)
