"""The smb.conf reader of the smb verifier: Samba's syntax, and no text that crashes it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_ha.verifier.kinds import smbconf


def test_parse_reads_the_shares_of_a_debian_shaped_smb_conf() -> None:
    conf = smbconf.parse(
        "# Samba config\n[global]\n   workgroup = WORKGROUP\n   map to guest = bad user\n"
        "include = /etc/samba/local.conf\n\n[homes]\n   comment = Home Directories\n"
        "[printers]\n   path = /var/spool/samba\n   printable = yes\n"
        "[print$]\n   path = /var/lib/samba/printers\n"
        "; [old]\n;   path = /old\n"
        "[Data]\n   Path = /srv/data\n   valid users = \\\n     alice bob\n"
        "[scans]\n   directory = /srv/scans\n   available = no\n"
        "[off]\n   path = /x\n  print ok = Yes\n"
    )
    assert [s.name for s in conf.disk_shares()] == ["print$", "Data"]
    assert conf.problems == [] and conf.share("old") is None  # comments are not read
    data = conf.share("data")
    assert data is not None and data.path == "/srv/data"
    assert data.params["valid users"] == "alice bob"
    assert conf.includes == [(5, "/etc/samba/local.conf")]
    scans = conf.share("scans")
    assert scans is not None and scans.path == "/srv/scans"


def test_parse_names_a_line_that_is_not_a_parameter() -> None:
    conf = smbconf.parse("[data]\npath = /srv\nnonsense here\n[]\n")
    assert conf.problems == [
        "line 3: name = value, not 'nonsense here'",
        "line 4: a section header [name], not '[]'",
    ]


def test_continuation_lines_keep_the_first_line_number() -> None:
    conf = smbconf.parse("[a]\npath = /srv/\\\n  a\nbad\n")
    share = conf.share("a")
    assert share is not None and share.path == "/srv/  a"
    assert conf.problems == ["line 4: name = value, not 'bad'"]


def test_a_parameter_before_any_section_is_global() -> None:
    conf = smbconf.parse("workgroup = ACME\n[data]\npath=/d\n")
    assert conf.sections["global"].params == {"workgroup": "ACME"}
    assert [s.name for s in conf.disk_shares()] == ["data"]


LINES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n: f"[{n}]", st.text(max_size=12)),
    st.builds(lambda k, v: f"{k} = {v}", st.text(max_size=12), st.text(max_size=20)),
    st.just("include = /x"),
    st.just("path = /srv/\\"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=30))
def test_arbitrary_text_never_crashes_the_parser(lines: list[str]) -> None:
    conf = smbconf.parse("\n".join(lines))
    for share in conf.disk_shares():
        assert share.name.lower() not in smbconf.NOT_DISK
        assert share.path is None or isinstance(share.path, str)
    assert all(p.startswith("line ") for p in conf.problems)


@given(st.text())
def test_any_unicode_text_parses(text: str) -> None:
    smbconf.parse(text)
