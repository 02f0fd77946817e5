"""The nginx site reader of the http verifier: both environments' formats, probes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_ha.errors import FormatError
from atlas_ha.verifier.kinds.nginxconf import (
    AUTH,
    DENY,
    PUBLIC,
    Listen,
    parse,
    parse_listen,
    probes,
    read_sites,
    site_files,
)

SITE = """
# the office site
server {
    listen 80;
    listen 443 ssl;   # tls too
    server_name www.acme.lan acme.lan;
    root /var/www/acme;
    location /private/ {
        auth_basic "Staff only";
        auth_basic_user_file htpasswd-acme;
    }
    location /internal { deny all; }
    location ^~ /static/ { root /srv/static; }
    location /files/ { alias /srv/files/; }
    location ~ \\.php$ { deny all; }
}
"""


def write(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


@pytest.mark.parametrize(
    ("fmt", "loaded", "ignored"),
    [
        ("conf.d", "/etc/nginx/conf.d/www.conf", "/etc/nginx/conf.d/www.conf.disabled"),
        ("sites-enabled", "/etc/nginx/sites-enabled/www", "/etc/nginx/sites-enabled/.www.swp"),
    ],
)
def test_reads_the_sites_of_each_format(
    tmp_path: Path, fmt: str, loaded: str, ignored: str
) -> None:
    write(tmp_path, loaded, SITE)
    write(tmp_path, ignored, "server { listen 81; root /nowhere; }")
    assert site_files(tmp_path, fmt) == [loaded]
    (block,) = read_sites(tmp_path, fmt)
    assert block.where == f"{loaded}:3"
    assert block.listens == (Listen(80), Listen(443, None, True))
    assert block.names == ("www.acme.lan", "acme.lan")
    assert block.root == "/var/www/acme"
    private = block.locations[0]
    assert (private.prefix, private.auth_basic, private.auth_file) == (
        "/private/",
        "Staff only",
        "htpasswd-acme",
    )
    assert block.locations[1].deny == ("all",)
    assert block.locations[4].modifier == "~"


def test_probes_cover_every_document_root_and_restricted_location(tmp_path: Path) -> None:
    write(tmp_path, "/etc/nginx/sites-enabled/www", SITE)
    (block,) = read_sites(tmp_path, "sites-enabled")
    found = {(p.port, p.url): p for p in probes(block, "t.html")}
    assert {url for _port, url in found} == {
        "/t.html",
        "/private/t.html",
        "/internal/t.html",
        "/static/t.html",
        "/files/t.html",
    }
    assert {port for port, _url in found} == {80, 443}
    assert found[(443, "/t.html")].tls and not found[(80, "/t.html")].tls
    assert found[(80, "/t.html")].file == "/var/www/acme/t.html"
    assert found[(80, "/t.html")].host == "www.acme.lan"
    private = found[(80, "/private/t.html")]
    assert (private.access, private.file) == (AUTH, "/var/www/acme/private/t.html")
    assert private.auth_file == "/etc/nginx/htpasswd-acme"  # relative to the conf prefix
    assert found[(80, "/internal/t.html")].access == DENY
    assert found[(80, "/static/t.html")].file == "/srv/static/static/t.html"  # root + URI
    assert found[(80, "/files/t.html")].file == "/srv/files/t.html"  # alias replaces
    assert found[(80, "/static/t.html")].access == PUBLIC


def test_include_is_followed_inside_the_root(tmp_path: Path) -> None:
    write(tmp_path, "/etc/nginx/snippets/private.conf", "location /p/ { auth_basic on; }\n")
    write(
        tmp_path,
        "/etc/nginx/conf.d/a.conf",
        "server { root /w; include snippets/*.conf; }\n",
    )
    (block,) = read_sites(tmp_path, "conf.d")
    assert block.locations[0].prefix == "/p/"
    assert block.listens == (Listen(80),)


def test_server_level_auth_is_inherited_and_can_be_switched_off() -> None:
    from atlas_ha.verifier.kinds.nginxconf import server_block

    (d,) = parse('server { root /w; auth_basic "x"; location /open/ { auth_basic off; } }', "site")
    block = server_block(Path("/"), d, "site")
    access = {p.url: p.access for p in probes(block, "t")}
    assert access == {"/t": AUTH, "/open/t": PUBLIC}


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("server {\n listen 80;\n", 2, "a closing '}'"),
        ("server {\n root /w\n}\n", 3, "';' after root /w"),
        ("}\n", 1, "no '}' without"),
        ('server { root "/w; }', 1, 'a closing "'),
        ("server { listen 99999; }", 1, "port 1..65535"),
    ],
)
def test_syntax_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    write(tmp_path, "/etc/nginx/sites-enabled/bad", text)
    with pytest.raises(FormatError) as err:
        read_sites(tmp_path, "sites-enabled")
    assert err.value.path == "/etc/nginx/sites-enabled/bad"
    assert err.value.line == line
    assert expected in err.value.expected


@pytest.mark.parametrize(
    ("spec", "listen"),
    [
        (("80",), Listen(80)),
        (("127.0.0.1:8080",), Listen(8080, "127.0.0.1")),
        (("*:443", "ssl", "http2"), Listen(443, None, True)),
        (("[::]:80",), Listen(80, None)),
        (("[2001:db8::1]:81",), Listen(81, "2001:db8::1")),
        (("localhost",), Listen(80, "localhost")),
    ],
)
def test_listen_forms(spec: tuple[str, ...], listen: Listen) -> None:
    assert parse_listen(spec, "f", 1) == listen


def test_listen_bound_elsewhere_is_not_probed() -> None:
    from atlas_ha.verifier.kinds.nginxconf import server_block

    (d,) = parse("server { listen 127.0.0.1:80; listen 8080; root /w; }", "s")
    block = server_block(Path("/"), d, "s")
    assert {p.port for p in probes(block, "t", address="198.51.100.11")} == {8080}


# -- property: whatever the layout of the text, the same blocks are read ----------------------
NAME = st.from_regex(r"[a-z][a-z0-9-]{0,8}(\.[a-z]{2,4}){0,2}", fullmatch=True)
DIR = st.from_regex(r"(/[a-z0-9_]{1,6}){1,3}", fullmatch=True)
SPACE = st.sampled_from([" ", "  ", "\t", "\n", " # note\n", "\n\n"])


@st.composite
def sites(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    sp = lambda: draw(SPACE)  # noqa: E731
    port = draw(st.integers(1, 65535))
    names = draw(st.lists(NAME, min_size=1, max_size=3))
    root = draw(DIR)
    locs = draw(
        st.lists(
            st.tuples(DIR, st.sampled_from(["auth", "deny", "root"]), DIR),
            max_size=3,
            unique_by=lambda t: t[0],
        )
    )
    quote = draw(st.sampled_from(["", '"', "'"]))
    body = [
        f"listen{sp()}{port};",
        f"server_name {' '.join(names)};",
        f"root{sp()}{quote}{root}{quote};",
    ]
    for prefix, what, other in locs:
        inner = {
            "auth": f'auth_basic{sp()}"realm {prefix}";{sp()}auth_basic_user_file {other};',
            "deny": "deny all;",
            "root": f"root {other};",
        }[what]
        body.append(f"location{sp()}{prefix}/{sp()}{{{sp()}{inner}{sp()}}}")
    text = f"server{sp()}{{{sp()}" + sp().join(body) + f"{sp()}}}{sp()}"
    expected = {"port": port, "names": tuple(names), "root": root, "locs": locs}
    return text, expected


@settings(max_examples=150, deadline=None)
@given(sites())
def test_any_layout_reads_the_same(site: tuple[str, dict[str, object]]) -> None:
    from atlas_ha.verifier.kinds.nginxconf import server_block

    text, expected = site
    (d,) = parse(text, "gen")
    block = server_block(Path("/"), d, "gen")
    assert block.listens == (Listen(int(expected["port"])),)  # type: ignore[call-overload]
    assert block.names == expected["names"]
    assert block.root == expected["root"]
    locs = expected["locs"]
    assert isinstance(locs, list)
    assert [loc.prefix for loc in block.locations] == [p + "/" for p, _w, _o in locs]
    for loc, (_p, what, other) in zip(block.locations, locs, strict=True):
        assert (loc.auth_file == other) == (what == "auth")
        assert ("all" in loc.deny) == (what == "deny")
        assert (loc.root == other) == (what == "root")


def test_include_outside_the_system_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (tmp_path / "outside.conf").write_text("location /x/ { }\n")
    write(root, "/etc/nginx/sites-enabled/www", "server { include ../../../outside.conf; }\n")
    with pytest.raises(FormatError, match="an include inside the system root"):
        read_sites(root, "sites-enabled")
