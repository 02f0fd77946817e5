"""The PostgreSQL configuration-location converter (PGDATA <-> /etc/postgresql/15/main)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.converters import postgresql
from atlas_ha.errors import ConversionError

RHEL, DEB = "pgdata", "debian"
RHEL_DIR, DEB_DIR = "/var/lib/pgsql/data", "/etc/postgresql/15/main"
formats = st.sampled_from(postgresql.FORMATS)
# postgresql.conf lines that are not path settings: kept byte for byte
plain_lines = st.lists(
    st.sampled_from(
        [
            "listen_addresses = '*'\n",
            "port = 5432\n",
            "# hba_file = '/var/lib/pgsql/data/pg_hba.conf'\n",
            "shared_buffers = 128MB   # min 128kB\n",
            "\n",
            "log_line_prefix = '%m [%p] '\r\n",
        ]
    ),
    max_size=8,
)


def test_paths_per_format() -> None:
    assert postgresql.paths(RHEL) == (f"{RHEL_DIR}/postgresql.conf", f"{RHEL_DIR}/pg_hba.conf")
    assert postgresql.paths(DEB) == (f"{DEB_DIR}/postgresql.conf", f"{DEB_DIR}/pg_hba.conf")
    with pytest.raises(ValueError, match="unknown postgresql format"):
        postgresql.paths("mysql")


@given(st.sampled_from(postgresql.FILES), formats, formats)
def test_rename_there_and_back(name: str, a: str, b: str) -> None:
    path = f"{postgresql.conf_dir(a)}/{name}"
    there = postgresql.rename(a, b, path)
    assert there == f"{postgresql.conf_dir(b)}/{name}"
    assert postgresql.rename(b, a, there) == path


def test_a_file_without_a_place_in_the_target_is_refused() -> None:
    with pytest.raises(ConversionError, match=r"pg_ident.conf: one of postgresql.conf"):
        postgresql.rename(RHEL, DEB, f"{RHEL_DIR}/pg_ident.conf")


def test_paths_outside_the_directory_are_unchanged() -> None:
    assert postgresql.rename(RHEL, DEB, "/etc/hosts") == "/etc/hosts"


@given(plain_lines, formats, formats)
def test_conf_round_trip_keeps_every_other_line(lines: list[str], a: str, b: str) -> None:
    src = "".join(lines).encode()
    there = postgresql.convert_conf(a, b, src, "postgresql.conf")
    assert there == src
    assert postgresql.convert_conf(b, a, there, "postgresql.conf") == src


def test_path_settings_into_the_config_dir_move() -> None:
    conf = (
        f"hba_file = '{RHEL_DIR}/pg_hba.conf'  # moved\n"
        f"include_dir '{RHEL_DIR}/conf.d'\n"
        "ident_file = '/srv/elsewhere/pg_ident.conf'\n"
    ).encode()
    out = postgresql.convert_conf(RHEL, DEB, conf, "x")
    assert (
        out
        == (
            f"hba_file = '{DEB_DIR}/pg_hba.conf'  # moved\n"
            f"include_dir '{DEB_DIR}/conf.d'\n"
            "ident_file = '/srv/elsewhere/pg_ident.conf'\n"
        ).encode()
    )
    assert postgresql.convert_conf(DEB, RHEL, out, "x") == conf


def test_a_path_already_in_the_target_dir_is_not_faithful() -> None:
    conf = f"port = 5432\nhba_file = '{DEB_DIR}/pg_hba.conf'\n".encode()
    with pytest.raises(ConversionError, match=r"^x:2: a path outside /etc/postgresql/15/main"):
        postgresql.convert_conf(RHEL, DEB, conf, "x")


def test_binary_conf_is_refused() -> None:
    with pytest.raises(ConversionError, match="UTF-8"):
        postgresql.convert_conf(RHEL, DEB, b"\xff\xfe", "x")
