"""Properties and error cases of the accounts converter (passwd-hash <-> shadow)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.converters import accounts
from atlas_ha.errors import ConversionError

PASSWD, SHADOW, GROUP = "/etc/passwd", "/etc/shadow", "/etc/group"
HASH_FMT, SHADOW_FMT = "passwd-hash", "shadow"

# --- strategies ---------------------------------------------------------------------------------

names = st.from_regex(r"[a-z_][a-z0-9_.-]{0,31}", fullmatch=True).map(str.encode)
crypt_hashes = st.from_regex(
    r"!?\$(1|5|6|y)\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{1,86}", fullmatch=True
).map(str.encode)
hashes = crypt_hashes | st.sampled_from([b"!", b"*", b"", b"!!", b"!*"])
free_field = st.binary(max_size=30).map(lambda b: b.replace(b":", b"").replace(b"\n", b""))
ids = st.integers(0, 2**32 - 1).map(lambda n: str(n).encode())


@st.composite
def users(draw: st.DrawFn) -> list[tuple[bytes, bytes, tuple[bytes, ...]]]:
    """(name, hash, (uid, gid, gecos, home, shell)) for distinct names."""
    chosen = draw(st.lists(names, unique=True, max_size=8))
    return [
        (name, draw(hashes), (draw(ids), draw(ids), draw(free_field), b"/home/u", b"/bin/sh"))
        for name in chosen
    ]


def hash_form(table: list[tuple[bytes, bytes, tuple[bytes, ...]]]) -> bytes:
    return b"".join(b":".join((n, h, *rest)) + b"\n" for n, h, rest in table)


def shadow_form(table: list[tuple[bytes, bytes, tuple[bytes, ...]]]) -> tuple[bytes, bytes]:
    passwd = b"".join(b":".join((n, b"x", *rest)) + b"\n" for n, _, rest in table)
    shadow = b"".join(n + b":" + h + b":::::::\n" for n, h, _ in table)
    return passwd, shadow


groups = st.binary(max_size=60)
days = st.integers(1, 60000).map(lambda n: str(n).encode())
# aging that has no effect (shadow(5)): what stock installations write, and variants
inert_aging = st.one_of(
    st.just(b"::::::"),
    st.builds(
        lambda last, low, high, warn, inactive: b":".join(
            (last, low, high, warn, inactive, b"", b"")
        ),
        days,
        st.sampled_from([b"", b"0"]),
        st.sampled_from([b"", b"99999", b"100000"]),
        st.sampled_from([b"", b"7", b"14"]),
        st.sampled_from([b"", b"30"]),
    ),
    st.builds(lambda d: b"::" + d + b":7:::", days),  # no last change: aging disabled
)
meaningful_aging = st.one_of(
    st.builds(lambda d: d + b":1:99999:7:::", days),  # a minimum age
    st.builds(lambda d: d + b":0:90:7:::", days),  # a maximum age
    st.just(b"0:0:99999:7:::"),  # change at next login
    st.builds(lambda d: b":::::" + d + b":", days),  # an account expiry date
)

ALICE = b"alice:$6$salt$hash:1000:1000:Alice:/home/alice:/bin/bash\n"
BOB = b"bob::1001:1001::/home/bob:/bin/sh\n"
ALICE_X = b"alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
BOB_X = b"bob:x:1001:1001::/home/bob:/bin/sh\n"
ALICE_S = b"alice:$6$salt$hash:::::::\n"
BOB_S = b"bob::::::::\n"

# --- round trips --------------------------------------------------------------------------------


@given(users())
def test_down_of_up_is_identity(table: list[tuple[bytes, bytes, tuple[bytes, ...]]]) -> None:
    original = hash_form(table)
    assert accounts.from_shadow(*accounts.to_shadow(original)) == original


@given(users())
def test_up_of_down_is_identity(table: list[tuple[bytes, bytes, tuple[bytes, ...]]]) -> None:
    passwd, shadow = shadow_form(table)
    assert accounts.to_shadow(accounts.from_shadow(passwd, shadow)) == (passwd, shadow)


@given(users())
def test_to_shadow_writes_empty_aging_fields(
    table: list[tuple[bytes, bytes, tuple[bytes, ...]]],
) -> None:
    _, shadow = accounts.to_shadow(hash_form(table))
    for line, (name, hash_, _) in zip(shadow.splitlines(), table, strict=True):
        assert line.split(b":") == [name, hash_, b"", b"", b"", b"", b"", b"", b""]


@given(users(), groups, st.sampled_from(accounts.FORMATS), st.sampled_from(accounts.FORMATS))
def test_convert_there_and_back_is_byte_equal(
    table: list[tuple[bytes, bytes, tuple[bytes, ...]]], group: bytes, a: str, b: str
) -> None:
    if a == HASH_FMT:
        files = {PASSWD: hash_form(table), GROUP: group}
    else:
        passwd, shadow = shadow_form(table)
        files = {PASSWD: passwd, SHADOW: shadow, GROUP: group}
    there = accounts.convert(a, b, files)
    assert tuple(there) == accounts.paths(b)
    assert there[GROUP] == group
    assert accounts.convert(b, a, there) == files


def test_paths_per_format() -> None:
    assert accounts.paths(HASH_FMT) == (PASSWD, GROUP)
    assert accounts.paths(SHADOW_FMT) == (PASSWD, SHADOW, GROUP)
    with pytest.raises(ValueError, match="unknown accounts format"):
        accounts.paths("tcb")


def test_example_conversion() -> None:
    assert accounts.to_shadow(ALICE + BOB) == (ALICE_X + BOB_X, ALICE_S + BOB_S)


def test_empty_files_are_allowed() -> None:
    assert accounts.to_shadow(b"") == (b"", b"")
    assert accounts.from_shadow(b"", b"") == b""


def test_missing_final_newline_is_accepted() -> None:
    assert accounts.to_shadow(BOB.rstrip(b"\n")) == (BOB_X, BOB_S)


def test_shadow_order_follows_passwd() -> None:
    assert accounts.from_shadow(ALICE_X + BOB_X, BOB_S + ALICE_S) == ALICE + BOB


# --- invalid inputs -----------------------------------------------------------------------------


def refused(call: Callable[..., object], *args: object) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        call(*args)
    return caught.value


def assert_error(err: ConversionError, path: str, line: int | None, word: str) -> None:
    assert (err.path, err.line) == (path, line)
    assert word in err.expected


def test_x_in_passwd_hash_means_the_hash_is_missing() -> None:
    assert_error(refused(accounts.to_shadow, ALICE + BOB_X), PASSWD, 2, "hash")


def test_meaningful_aging_fields_have_no_equivalent() -> None:
    aged = b"bob::19000:0:60:7:::\n"
    assert_error(refused(accounts.from_shadow, ALICE_X + BOB_X, ALICE_S + aged), SHADOW, 2, "aging")


@given(users(), st.data())
def test_inert_aging_converts_and_means_the_same_after_a_round_trip(
    table: list[tuple[bytes, bytes, tuple[bytes, ...]]], data: st.DataObject
) -> None:
    passwd, _ = shadow_form(table)
    shadow = b"".join(n + b":" + h + b":" + data.draw(inert_aging) + b"\n" for n, h, _ in table)
    older = accounts.from_shadow(passwd, shadow)
    assert older == hash_form(table)
    newer = accounts.to_shadow(older)
    assert newer[0] == passwd
    assert accounts.same_meaning(SHADOW, newer[1], shadow)
    assert accounts.from_shadow(*newer) == older


@given(users().filter(bool), st.data())
def test_meaningful_aging_is_refused_on_its_line_and_differs_in_meaning(
    table: list[tuple[bytes, bytes, tuple[bytes, ...]]], data: st.DataObject
) -> None:
    passwd, shadow = shadow_form(table)
    lines = shadow.split(b"\n")
    at = data.draw(st.integers(0, len(table) - 1))
    name, hash_ = lines[at].split(b":")[:2]
    lines[at] = name + b":" + hash_ + b":" + data.draw(meaningful_aging)
    aged = b"\n".join(lines)
    assert_error(refused(accounts.from_shadow, passwd, aged), SHADOW, at + 1, "aging")
    assert not accounts.same_meaning(SHADOW, aged, shadow)


def test_same_meaning_is_bytes_for_other_files() -> None:
    assert not accounts.same_meaning(PASSWD, ALICE_X, ALICE_X + b"\n")
    assert accounts.same_meaning(SHADOW, b"bob:h:19700:0:99999:7:::\n", b"bob:h:::::::\n")
    assert not accounts.same_meaning(SHADOW, b"bob:h:19700:0:99999:7:::\n", b"bob:i:::::::\n")


def test_user_without_shadow_line() -> None:
    err = refused(accounts.from_shadow, ALICE_X + BOB_X, ALICE_S)
    assert_error(err, SHADOW, None, "bob")
    assert "line 2" in err.expected


def test_shadow_line_without_user() -> None:
    err = refused(accounts.from_shadow, ALICE_X, ALICE_S + BOB_S)
    assert_error(err, SHADOW, 2, "no line in /etc/passwd")


def test_hash_in_passwd_of_shadow_format() -> None:
    err = refused(accounts.from_shadow, ALICE + BOB_X, ALICE_S + BOB_S)
    assert_error(err, PASSWD, 1, "'x'")


def test_empty_password_field_in_shadow_format() -> None:
    err = refused(accounts.from_shadow, ALICE_X + BOB, ALICE_S + BOB_S)
    assert_error(err, PASSWD, 2, "'x'")


def test_shadow_hash_x_would_change_meaning() -> None:
    err = refused(accounts.from_shadow, BOB_X, b"bob:x:::::::\n")
    assert_error(err, SHADOW, 1, "'x'")


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        (ALICE + b"bob:x:1001:1001:/home/bob:/bin/sh\n", 2, "7 fields"),
        (ALICE + b"bob::1001:1001::/home/bob:/bin/sh:extra\n", 2, "7 fields"),
        (b"bob::10x1:1001::/home/bob:/bin/sh\n", 1, "uid"),
        (b"bob::1001:::/home/bob:/bin/sh\n", 1, "gid"),
        (b"# accounts\n" + ALICE, 1, "comments"),
        (ALICE + b"\n" + BOB, 2, "user name"),
        (b"::1001:1001::/home/bob:/bin/sh\n", 1, "user name"),
        (b"bo b::1001:1001::/home/bob:/bin/sh\n", 1, "whitespace"),
        (b"bob\r::1001:1001::/home/bob:/bin/sh\n", 1, "whitespace"),
        (ALICE + b"+::::::\n", 2, "NIS"),
        (ALICE + BOB + ALICE, 3, "repeats line 1"),
    ],
)
def test_malformed_passwd_is_refused_in_both_directions(text: bytes, line: int, word: str) -> None:
    assert_error(refused(accounts.to_shadow, text), PASSWD, line, word)
    as_shadow_format = text.replace(b":$6$salt$hash:", b":x:").replace(b"bob::", b"bob:x:")
    assert_error(refused(accounts.from_shadow, as_shadow_format, b""), PASSWD, line, word)


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        (ALICE_S + b"bob:::::::\n", 2, "9 fields"),
        (ALICE_S + b"bob:::::::::\n", 2, "9 fields"),
        (b"# shadow\n" + ALICE_S, 1, "comments"),
        (ALICE_S + ALICE_S, 2, "repeats line 1"),
    ],
)
def test_malformed_shadow_is_refused(text: bytes, line: int, word: str) -> None:
    assert_error(refused(accounts.from_shadow, ALICE_X, text), SHADOW, line, word)


@pytest.mark.parametrize(("src", "dst"), [(HASH_FMT, SHADOW_FMT), (SHADOW_FMT, HASH_FMT)])
def test_convert_names_a_missing_file(src: str, dst: str) -> None:
    complete = {PASSWD: ALICE_X, SHADOW: ALICE_S, GROUP: b""}
    if src == HASH_FMT:
        complete = {PASSWD: ALICE, GROUP: b""}
    for path in complete:
        files = {p: data for p, data in complete.items() if p != path}
        err = refused(accounts.convert, src, dst, files)
        assert_error(err, path, None, "missing")


def test_same_format_copies_unchanged() -> None:
    files = {PASSWD: ALICE_X, SHADOW: b"alice:h:19000:0:99999:7:::\n", GROUP: b"g:x:1:\n"}
    assert accounts.convert(SHADOW_FMT, SHADOW_FMT, files) == files


# --- fuzzing ------------------------------------------------------------------------------------

lines = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([ALICE, BOB, ALICE_X, BOB_X, ALICE_S, BOB_S, b"bob::1::::", b"x:x:x:x:x:x:x"]),
)
account_files = st.lists(lines, max_size=6).map(b"\n".join)


@given(account_files, account_files)
def test_random_input_raises_only_conversion_error(passwd: bytes, shadow: bytes) -> None:
    for call, args in ((accounts.to_shadow, (passwd,)), (accounts.from_shadow, (passwd, shadow))):
        assert_returns_or_refuses(call, *args)


def assert_returns_or_refuses(call: Callable[..., object], *args: bytes) -> None:
    try:
        call(*args)
    except ConversionError as err:
        assert err.path in (PASSWD, SHADOW)
        assert err.line is None or err.line >= 1
