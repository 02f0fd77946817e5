"""Reading nginx site configuration (SPEC 8.2): server blocks, listen, names, roots, locations.

The sites are read in this server's environment's own format (envs.toml ``nginx``):
``conf.d`` loads ``/etc/nginx/conf.d/*.conf``, ``sites-enabled`` loads
``/etc/nginx/sites-enabled/*``, both inside the system root. ``include`` inside a site is
followed (relative paths against ``/etc/nginx``, globs allowed). Only what the verifier needs
is interpreted; every other directive is parsed and ignored. A syntax error names the file
and line.

``probes`` turns the server blocks into the URLs of the verifier's test pages: one in every
document root (the server's and each prefix location's own ``root``/``alias``) and one in
each restricted location (``auth_basic`` or ``deny``), with the file each URL serves.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.converters.nginx import site_dir
from atlas_ha.errors import FormatError

CONF_PREFIX = "/etc/nginx"
MAX_INCLUDE_DEPTH = 8
PUBLIC, AUTH, DENY = "public", "auth", "deny"


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    line: int
    block: tuple[Directive, ...] | None = None


@dataclass(frozen=True)
class Listen:
    port: int
    address: str | None = None  # None: every address of the server
    tls: bool = False


@dataclass(frozen=True)
class Location:
    prefix: str
    modifier: str = ""  # "", "^~", "=", "~", "~*"
    root: str | None = None
    alias: str | None = None
    auth_basic: str | None = None  # the realm; None when absent, "off" when switched off
    auth_file: str | None = None
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerBlock:
    where: str  # "<system path>:<line>"
    listens: tuple[Listen, ...]
    names: tuple[str, ...]
    root: str | None
    locations: tuple[Location, ...] = ()
    auth_basic: str | None = None
    auth_file: str | None = None
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    """One test page: requested as `url` with Host `host` on `port`; served from `file`."""

    host: str
    port: int
    tls: bool
    url: str
    access: str  # public | auth | deny
    file: str | None  # system path of the test page (None: nothing to install, e.g. deny)
    where: str
    auth_file: str | None = None


# -- tokenizer and parser ---------------------------------------------------------------------
def tokenize(text: str, where: str) -> list[tuple[str, int, bool]]:
    """(token, line, quoted) for every word, quoted string, '{', '}' and ';'."""
    tokens: list[tuple[str, int, bool]] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            tokens.append((c, line, False))
            i += 1
        elif c in "\"'":
            start_line, i, buf = line, i + 1, []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise FormatError(where, start_line, f"a closing {c} for the quoted string")
            tokens.append(("".join(buf), start_line, True))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "{};\"'#":
                i += 1
            tokens.append((text[start:i], line, False))
    return tokens


def parse(text: str, where: str) -> tuple[Directive, ...]:
    tokens = tokenize(text, where)
    directives, _pos = _parse_block(tokens, 0, where, top=True)
    return directives


def _parse_block(
    tokens: list[tuple[str, int, bool]], pos: int, where: str, top: bool
) -> tuple[tuple[Directive, ...], int]:
    result: list[Directive] = []
    words: list[str] = []
    start = 0
    while pos < len(tokens):
        tok, line, quoted = tokens[pos]
        pos += 1
        if not words:
            start = line
        if quoted or tok not in "{};":
            words.append(tok)
        elif tok == ";":
            if not words:
                raise FormatError(where, line, "a directive before ';'")
            result.append(Directive(words[0], tuple(words[1:]), start))
            words = []
        elif tok == "{":
            if not words:
                raise FormatError(where, line, "a directive name before '{'")
            block, pos = _parse_block(tokens, pos, where, top=False)
            result.append(Directive(words[0], tuple(words[1:]), start, block))
            words = []
        else:  # "}"
            if top:
                raise FormatError(where, line, "no '}' without an opening '{'")
            if words:
                raise FormatError(where, line, f"';' after {' '.join(words)}")
            return tuple(result), pos
    if words:
        raise FormatError(where, tokens[-1][1], f"';' after {' '.join(words)}")
    if not top:
        raise FormatError(where, tokens[-1][1] if tokens else 1, "a closing '}'")
    return tuple(result), pos


# -- reading sites -----------------------------------------------------------------------------
def site_files(system_root: Path, fmt: str) -> list[str]:
    """The system paths nginx loads as sites in format `fmt` (sorted, as nginx's glob)."""
    directory = site_dir(fmt)
    pattern = "*.conf" if fmt == "conf.d" else "*"
    base = system_root / directory.lstrip("/")
    return [
        f"{directory}/{p.name}"
        for p in sorted(base.glob(pattern))
        if not p.name.startswith(".") and p.is_file()
    ]


def read_sites(system_root: Path, fmt: str) -> list[ServerBlock]:
    """Every server block of this server's sites, read inside `system_root`."""
    blocks: list[ServerBlock] = []
    for path in site_files(system_root, fmt):
        for directive in _load(system_root, path, 0):
            if directive.name == "server" and directive.block is not None:
                blocks.append(server_block(system_root, directive, path))
    return blocks


def _load(system_root: Path, path: str, depth: int) -> tuple[Directive, ...]:
    fs_path = system_root / path.lstrip("/")
    try:
        text = fs_path.read_text(errors="replace")
    except OSError as exc:
        raise FormatError(path, None, f"a readable nginx file ({exc.strerror})") from exc
    return _expand(system_root, parse(text, path), depth)


def _expand(
    system_root: Path, directives: tuple[Directive, ...], depth: int
) -> tuple[Directive, ...]:
    result: list[Directive] = []
    for d in directives:
        if d.name == "include" and d.block is None and depth < MAX_INCLUDE_DEPTH and d.args:
            result += _included(system_root, d.args[0], depth + 1)
        elif d.block is not None:
            result.append(Directive(d.name, d.args, d.line, _expand(system_root, d.block, depth)))
        else:
            result.append(d)
    return tuple(result)


def _included(system_root: Path, pattern: str, depth: int) -> list[Directive]:
    absolute = absolute_path(pattern)
    found = sorted(glob.glob(str(system_root / absolute.lstrip("/"))))  # noqa: PTH207
    result: list[Directive] = []
    inside = system_root.resolve()
    for fs_path in found:
        if not Path(fs_path).resolve().is_relative_to(inside):
            raise FormatError(pattern, None, f"an include inside the system root {system_root}")
        system_path = "/" + str(Path(fs_path).relative_to(system_root))
        result += _load(system_root, system_path, depth)
    return result


def absolute_path(path: str) -> str:
    """A path as nginx resolves it: relative paths against the configuration prefix."""
    return path if path.startswith("/") else f"{CONF_PREFIX}/{path}"


def server_block(system_root: Path, d: Directive, path: str) -> ServerBlock:
    assert d.block is not None
    where = f"{path}:{d.line}"
    listens = tuple(
        listen
        for x in d.block
        if x.name == "listen"
        for listen in [parse_listen(x.args, path, x.line)]
        if listen is not None
    )
    names = tuple(n for x in d.block if x.name == "server_name" for n in x.args)
    access = _access(d.block)
    return ServerBlock(
        where=where,
        listens=listens or (Listen(80),),
        names=names,
        root=_single(d.block, "root"),
        locations=tuple(_locations(d.block, path)),
        auth_basic=access.auth_basic,
        auth_file=access.auth_file,
        deny=access.deny,
        allow=access.allow,
    )


def _single(block: tuple[Directive, ...], name: str) -> str | None:
    values = [x.args[0] for x in block if x.name == name and x.args]
    return values[-1] if values else None


@dataclass(frozen=True)
class _Access:
    auth_basic: str | None
    auth_file: str | None
    deny: tuple[str, ...]
    allow: tuple[str, ...]


def _access(block: tuple[Directive, ...]) -> _Access:
    return _Access(
        _single(block, "auth_basic"),
        _single(block, "auth_basic_user_file"),
        tuple(x.args[0] for x in block if x.name == "deny" and x.args),
        tuple(x.args[0] for x in block if x.name == "allow" and x.args),
    )


def _locations(block: tuple[Directive, ...], path: str) -> list[Location]:
    result = []
    for x in block:
        if x.name != "location" or x.block is None:
            continue
        if not x.args:
            raise FormatError(path, x.line, "location [modifier] URI { ... }")
        modifier, prefix = ("", x.args[0]) if len(x.args) == 1 else (x.args[0], x.args[1])
        access = _access(x.block)
        result.append(
            Location(
                prefix=prefix,
                modifier=modifier,
                root=_single(x.block, "root"),
                alias=_single(x.block, "alias"),
                auth_basic=access.auth_basic,
                auth_file=access.auth_file,
                deny=access.deny,
                allow=access.allow,
            )
        )
    return result


def parse_listen(args: tuple[str, ...], path: str, line: int) -> Listen | None:
    """`listen` arguments; None for a unix socket (not reachable over the network)."""
    if not args:
        raise FormatError(path, line, "listen [address:]port [ssl] ...")
    spec, flags = args[0], args[1:]
    if spec.startswith("unix:"):
        return None
    address: str | None = None
    port_text = spec
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        address, port_text = host, rest.lstrip(":") or "80"
    elif ":" in spec:
        address, port_text = spec.rsplit(":", 1)
    elif not spec.isdigit():
        address, port_text = spec, "80"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise FormatError(path, line, f"listen with a port 1..65535, got {spec!r}")
    if address in ("*", "0.0.0.0", "::"):  # noqa: S104 (reading, not binding)
        address = None
    return Listen(int(port_text), address, "ssl" in flags)


# -- the verifier's test pages -------------------------------------------------------------
@dataclass
class _Effective:
    root: str | None
    alias: str | None
    prefix: str
    access: str
    auth_file: str | None
    where: str = ""
    notes: list[str] = field(default_factory=list)


def effective(block: ServerBlock, url: str) -> _Effective:
    """What serves `url`: the longest matching prefix location (nginx's rule for prefix
    locations; regex and exact locations are not interpreted), or the server itself."""
    best: Location | None = None
    for loc in block.locations:
        longer = best is None or len(loc.prefix) > len(best.prefix)
        if loc.modifier in ("", "^~") and url.startswith(loc.prefix) and longer:
            best = loc
    auth = block.auth_basic
    auth_file = block.auth_file
    deny, allow = block.deny, block.allow
    root, alias, prefix = block.root, None, ""
    if best is not None:
        prefix = best.prefix
        root = best.root or root
        alias = best.alias
        if best.auth_basic is not None:
            auth, auth_file = best.auth_basic, best.auth_file or auth_file
        elif best.auth_file is not None:
            auth_file = best.auth_file
        if best.deny or best.allow:
            deny, allow = best.deny, best.allow
    access = PUBLIC
    if "all" in deny and not allow:
        access = DENY
    elif auth is not None and auth != "off":
        access = AUTH
    return _Effective(root, alias, prefix, access, auth_file)


def probes(block: ServerBlock, page: str, address: str | None = None) -> list[Probe]:
    """The test pages of one server block (see the module doc)."""
    urls = [f"/{page}"]
    for loc in block.locations:
        if loc.modifier in ("", "^~") and loc.prefix.startswith("/"):
            base = loc.prefix if loc.prefix.endswith("/") else loc.prefix + "/"
            if f"{base}{page}" not in urls:
                urls.append(f"{base}{page}")
    host = next((n for n in block.names if n and n != "_" and "*" not in n and "~" not in n), "")
    result: list[Probe] = []
    for listen in _reachable(block.listens, address):
        for url in urls:
            eff = effective(block, url)
            result.append(
                Probe(
                    host=host,
                    port=listen.port,
                    tls=listen.tls,
                    url=url,
                    access=eff.access,
                    file=_file(eff, url),
                    where=block.where,
                    auth_file=absolute_path(eff.auth_file) if eff.auth_file else None,
                )
            )
    return result


def _reachable(listens: tuple[Listen, ...], address: str | None) -> list[Listen]:
    seen: set[tuple[int, bool]] = set()
    result = []
    for listen in listens:
        if listen.address is not None and address is not None and listen.address != address:
            continue  # bound to another address (e.g. 127.0.0.1): not reachable by partners
        if ":" in (listen.address or "") or (listen.port, listen.tls) in seen:
            continue
        seen.add((listen.port, listen.tls))
        result.append(listen)
    return result


def _file(eff: _Effective, url: str) -> str | None:
    """The system path `url` is served from (root + URI, or alias + rest of the URI)."""
    if eff.alias is not None:
        rest = url[len(eff.prefix) :]
        return eff.alias.rstrip("/") + "/" + rest.lstrip("/")
    if eff.root is None or "$" in eff.root or not eff.root.startswith("/"):
        return None
    return eff.root.rstrip("/") + url
