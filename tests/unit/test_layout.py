"""SPEC 3 layout files: malformed input is an error naming the file, the line and what was
expected; validity rule; atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.test_names import entries

from atlas_ha.errors import FormatError, SettingsError
from atlas_ha.layout import manifest, paths
from atlas_ha.layout.esd import EsdData
from atlas_ha.layout.sid import INVALID_SEND, INVALID_SNAPSHOT, INVALID_VERSIONS, SidData
from atlas_ha.model import MasterConfig
from atlas_ha.settings import load


def test_master_config_round_trip_and_errors(tmp_path: Path) -> None:
    text = (
        'group = "acme"\nrole = "PRI"\n\n[partners.SEC1]\naddress = "192.0.2.12"\nssh_port = 2222\n'
    )
    mc = MasterConfig.parse(text)
    assert MasterConfig.parse(mc.render()) == mc
    with pytest.raises(FormatError, match=r"MasterConfig:2: valid TOML"):
        MasterConfig.parse('group = "a"\nrole = PRI\n')
    with pytest.raises(FormatError, match=r"unknown|only keys"):
        MasterConfig.parse('group = "a"\nrole = "PRI"\ncolour = "red"\n')
    with pytest.raises(FormatError, match="role PRI or SEC"):
        MasterConfig.parse('group = "a"\nrole = "SEC0"\n')
    with pytest.raises(FormatError, match=r"lists only \[partners.PRI\]"):
        MasterConfig.parse('group = "a"\nrole = "SEC1"\n[partners.SEC2]\naddress = "192.0.2.1"\n')
    with pytest.raises(FormatError, match="address = an IP address"):
        MasterConfig.parse('group = "a"\nrole = "PRI"\n[partners.SEC1]\naddress = "nowhere"\n')


def test_sev_and_env_id_errors_name_file_and_line(tmp_path: Path) -> None:
    sid = SidData(tmp_path / "sid")
    (tmp_path / "sid/PRI").mkdir(parents=True)
    (tmp_path / "sid/PRI/SnapshotEnvVersion").write_text("two\n")
    with pytest.raises(FormatError) as err:
        sid.sev("PRI")
    assert err.value.line == 1 and "SnapshotEnvVersion" in err.value.path
    (tmp_path / "esd").mkdir()
    (tmp_path / "esd/EnvID").write_text("0\n")
    with pytest.raises(FormatError, match=r"EnvID:1: one EnvVersion 1\.\.9999"):
        EsdData(tmp_path / "esd").env_id()


def test_envs_toml_must_cover_exactly_one_to_env_id(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    tmp_path.joinpath("EnvID").write_text("2\n")
    tmp_path.joinpath("envs.toml").write_text(
        '[env.1]\nidentity = "rhel-ifcfg"\naccounts = "passwd-hash"\nnginx = "conf.d"\n'
    )
    with pytest.raises(FormatError, match=r"missing \[2\]"):
        esd.envs()
    tmp_path.joinpath("envs.toml").write_text(
        '[env.1]\nidentity = "ifcfg"\naccounts = "passwd-hash"\nnginx = "conf.d"\n'
    )
    with pytest.raises(FormatError, match="identity = one of"):
        esd.envs()


def test_path_lists_reject_relative_and_dotdot(tmp_path: Path) -> None:
    assert paths.parse("# comment\n/etc/hosts\n\n/etc/nginx\n", "L") == ["/etc/hosts", "/etc/nginx"]
    for bad, line in (
        ("/etc/hosts\netc/passwd\n", 2),
        ("/etc/../root\n", 1),
        ("/etc/hosts\n/etc/hosts\n", 2),
    ):
        with pytest.raises(FormatError) as err:
            paths.parse(bad, "SyncFilePaths")
        assert err.value.line == line and err.value.path == "SyncFilePaths"


@given(st.lists(st.from_regex(r"/[a-z]{1,8}(/[a-z0-9._-]{1,8}){0,3}", fullmatch=True), unique=True))
def test_path_list_round_trip(listed: list[str]) -> None:
    listed = [p for p in listed if "/." not in p]
    assert paths.parse(paths.render(listed, "generated"), "L") == listed


def test_manifest_errors_name_the_line() -> None:
    good = manifest.Entry("SyncFiles", "/etc/hosts", "file", 0o644, 0, 0, 3, 1, "a" * 64)
    text = manifest.render([good])
    assert manifest.parse(text, "M") == {good.key: good}
    with pytest.raises(FormatError, match=r"M:1: the header line"):
        manifest.parse("garbage\n", "M")
    with pytest.raises(FormatError, match=r"M:2: one JSON object"):
        manifest.parse(manifest.HEADER + "\n{nope\n", "M")
    with pytest.raises(FormatError, match=r"M:2: an absolute path"):
        manifest.parse(text.replace('"/etc/hosts"', '"etc/hosts"'), "M")
    with pytest.raises(FormatError, match=r"M:3: each object once"):
        manifest.parse(text + text.splitlines()[1] + "\n", "M")


def test_validity_rule(tmp_path: Path) -> None:
    sid = SidData(tmp_path)
    for v in (1, 2, 3):
        sid.area("PRI", v).path.mkdir(parents=True)
    assert not sid.is_valid("PRI", 1)  # SEV empty
    sid.set_sev("PRI", 2)
    assert sid.valid_envs("PRI") == [1, 2]  # 3 > SEV
    sid.set_flag(sid.area("PRI", 1), INVALID_SNAPSHOT)
    assert sid.valid_envs("PRI") == [2]
    sid.clear_flag(sid.area("PRI", 1), INVALID_SNAPSHOT)
    sid.set_flag(sid.area("PRI", 2), INVALID_VERSIONS)  # invalidates every older one too
    assert sid.valid_envs("PRI") == []
    sid.clear_flag(sid.area("PRI", 2), INVALID_VERSIONS)
    sid.set_flag(sid.area("PRI", 2), INVALID_SEND)
    assert sid.valid_envs("PRI") == [1]
    assert "InvalidSend" in (sid.validity("PRI", 2) or "")


def test_settings_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "atlas-ha.toml"
    with pytest.raises(SettingsError, match="no settings file"):
        load(cfg)
    cfg.write_text('name = "A"\nesd_data = "esd"\nsid_data = "/sid"\nsystm_root = "/"\n')
    with pytest.raises(SettingsError, match="unknown keys \\['systm_root'\\]"):
        load(cfg)
    cfg.write_text('name = "A"\nesd_data = "esd"\nsid_data = "/sid"\n[transport]\nkind = "ftp"\n')
    with pytest.raises(SettingsError, match="kind = one of"):
        load(cfg)
    cfg.write_text('name = "A"\nesd_data = "esd"\nsid_data = "/sid"\n[hooks]\nafter_boot = []\n')
    with pytest.raises(SettingsError, match="after_boot: expected one of"):
        load(cfg)
    cfg.write_text('name = "A"\nesd_data = "esd"\nsid_data = "/sid"\nsystem_root = "r"\n')
    s = load(cfg)
    assert s.esd_data == tmp_path / "esd" and s.system_root == tmp_path / "r"


def test_flag_that_cannot_be_written_stops_create(tmp_path: Path) -> None:
    import os

    from atlas_ha.errors import FlagWriteError

    if os.geteuid() == 0:
        sid = SidData(Path("/proc/atlas-ha-cannot-write"))
    else:
        sid = SidData(tmp_path / "ro")
        (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(FlagWriteError, match="cannot set flag"):
        sid.set_flag(sid.area("PRI", 1), INVALID_SNAPSHOT)


ENTRIES = entries(st.text(min_size=1).map(lambda s: "/" + s), st.text())


@given(st.lists(ENTRIES, unique_by=lambda e: e.key))
def test_manifest_render_is_json_per_line_and_parses_back(entries: list[manifest.Entry]) -> None:
    import json

    text = manifest.render(entries)
    rows = sorted(entries, key=lambda e: (manifest.TREES.index(e.tree), e.path))
    expected = "".join(json.dumps(vars(e), sort_keys=True) + "\n" for e in rows)
    assert text == manifest.HEADER + "\n" + expected
    assert manifest.parse(text, "M") == {e.key: e for e in entries}


def test_manifest_rejects_wrong_fields_and_types() -> None:
    good = manifest.Entry("SyncFiles", "/etc/hosts", "file", 0o644, 0, 0, 3, 1, "a" * 64)
    line = manifest.render([good]).splitlines()[1]
    for bad, message in (
        (line.replace('"uid": 0', '"uid": 0, "evil": 1'), "fields of a manifest entry"),
        (line.replace('"path": "/etc/hosts", ', ""), "fields of a manifest entry"),
        (line.replace('"size": 3', '"size": true'), "non-negative integers"),
        (line.replace('"size": 3', '"size": -3'), "non-negative integers"),
        (line.replace('"target": ""', '"target": 5'), "strings for"),
        (line.replace('"mode": 420', '"mode": 65535'), "permission bits"),
        ("[1]", "a JSON object"),
    ):
        with pytest.raises(FormatError, match=message):
            manifest.parse(manifest.HEADER + "\n" + bad + "\n", "M")
