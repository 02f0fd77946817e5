"""The http verifier: nginx sites, exercised over HTTP(S) in-process (no forked plugin).

SetUp (PRI): read this server's own nginx sites in its environment's format (envs.toml
``nginx``), install a test page holding the cycle's token in every document root and in each
restricted location, and write the probe list (``/var/lib/atlas-ha/verifier/<name>.json``,
synced test data: URLs, Host names, ports, what each must answer). Configs to sync: the site
directory, every ``auth_basic_user_file``, the verifier's credentials file.

Verify (any server, against a partner's address): every probe, within the service's timeout:
a public test page must answer 200 with an acceptable token (the PRI accepts its recent
tokens, a SEC its installed one or newer); wrong content is CRITICAL. A restricted location
must refuse a request without credentials (401/403) and, for ``auth_basic``, serve the page
with the verifier's credentials. With TLS: the certificate must verify (``ca_file`` option or
the system's CAs) and its days to expiry are measured. Measurements: ``time`` (slowest
request, s), ``size`` (B), ``cert_days`` (d), judged by the service's thresholds.

Options: ``credentials`` = path of a synced secret file "user:password" (mode 0600),
``ca_file`` = CA bundle for https, ``page`` = test page name, ``db_page`` = the URL of a
page generated from the database (e.g. "/dbpage"): requested like the public test page (the
first server block's port and Host), it must answer 200 showing the current token, which the
postgresql kind's SetUp writes into its verifier table in the same cycle — so the check
proves web -> application -> database on that server.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import stat
import time
from dataclasses import asdict, replace

from atlas_ha.converters.nginx import site_dir
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.verifier.api import Context, SetUpResult, Target, Verifier
from atlas_ha.verifier.kinds.httpwire import Connection
from atlas_ha.verifier.kinds.nginxconf import AUTH, DENY, PUBLIC, Probe, probes, read_sites
from atlas_ha.verifier.profile import Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.setup import TokenJudge, data_file

PAGE = "atlas-ha-verify.html"
TOKEN_RE = re.compile(r"atlas-ha verifier token ([0-9]+-[0-9a-f]+)")
MAX_BODY = 1 << 16


def page_content(token: str) -> str:
    return f"<!-- atlas-ha verifier token {token} -->\n"


class HttpVerifier(Verifier):
    kind = "http"
    default_targets = "partners"

    # -- SetUp ------------------------------------------------------------------------------
    def setup(self, ctx: Context, service: ServiceDef) -> SetUpResult:
        server = ctx.server
        fmt = server.envs[server.env_id].formats["nginx"]
        result = SetUpResult(configs=[site_dir(fmt), *service.configs])
        credentials = service.options.get("credentials")
        if isinstance(credentials, str):
            result.configs.append(credentials)
        blocks = read_sites(ctx.system_root, fmt)  # a syntax error: SetUp failed (logged)
        page = str(service.options.get("page", PAGE))
        found = [p for block in blocks for p in probes(block, page)]
        for probe in found:
            if probe.auth_file and probe.auth_file not in result.configs:
                result.configs.append(probe.auth_file)
            if probe.file and probe.file not in result.data:
                self._install_page(ctx, probe, result)
        record = data_file(service, "json")
        atomic_write(
            ctx.in_root(record),
            json.dumps({"token": ctx.token, "probes": [asdict(p) for p in found]}, indent=1),
            mode=0o644,
        )
        result.data.append(record)
        return result

    def _install_page(self, ctx: Context, probe: Probe, result: SetUpResult) -> None:
        assert probe.file is not None
        path = ctx.in_root(probe.file)
        docroot = path.parent  # an alias directory must exist
        if probe.file.endswith(probe.url) and len(probe.file) > len(probe.url):
            docroot = ctx.in_root(probe.file[: -len(probe.url)])  # root + URI: may create
        if not docroot.is_dir():
            result.notes.append(f"{probe.where}: document root {docroot} does not exist")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, page_content(ctx.token), mode=0o644)
        except OSError as exc:
            result.notes.append(f"{probe.where}: cannot write {probe.file}: {exc}")
            return
        result.data.append(probe.file)

    # -- Verify ------------------------------------------------------------------------------
    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        deadline = time.monotonic() + service.timeout
        try:
            record = _load_record(ctx, service)
        except RecordError as exc:
            return Profile(Status.UNKNOWN, f"verifier data malformed: {exc}")
        if record is None:
            return Profile(Status.UNKNOWN, f"no verifier data {data_file(service, 'json')}")
        installed, found = record
        if not found:
            return Profile(Status.UNKNOWN, "no nginx server block to verify")
        failures: list[str] = []
        auth = _credentials(ctx, service, failures)
        check = _Check(ctx, service, target, deadline, installed, auth)
        try:
            for probe in found:
                failures += check.probe(probe)
            failures += _db_page(service, check, found[0])
        finally:
            check.close()
        measurements = [judged("time", round(check.slowest, 4), "s", service.thresholds)]
        if check.size is not None:
            measurements.append(judged("size", check.size, "B", service.thresholds))
        if check.cert_days is not None:
            measurements.append(judged("cert_days", check.cert_days, "d", service.thresholds))
        return from_checks(
            failures,
            f"{len(found)} probes OK on {target.role} {target.address}",
            measurements,
            details="\n".join(check.details),
            data={"token_seen": check.tokens_seen},
        )


def _db_page(service: ServiceDef, check: _Check, first: Probe) -> list[str]:
    url = service.options.get("db_page")
    if url is None:
        return []
    if not isinstance(url, str) or not URL_RE.match(url):
        return [f"service {service.name}: options.db_page is a URL path, not {url!r}"]
    probe = replace(first, url=url, access=PUBLIC, file=None, auth_file=None)
    return [f"page from the database: {failure}" for failure in check.probe(probe)]


URL_RE = re.compile(r"^/[\x21-\x7e]*$")  # no spaces, no control characters (no CR/LF)
HOST_RE = re.compile(r"^[A-Za-z0-9._:\[\]-]{0,255}$")


class RecordError(ValueError):
    pass


def _load_record(ctx: Context, service: ServiceDef) -> tuple[str, list[Probe]] | None:
    """The synced probe list (it came from the PRI: every field is checked before use)."""
    path = data_file(service, "json")
    try:
        raw = json.loads(ctx.in_root(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("probes"), list):
        raise RecordError(f"{path}: expected {{token, probes: [...]}}")
    return str(raw.get("token", "")), [_probe(p, path) for p in raw["probes"]]


def _probe(raw: object, path: str) -> Probe:
    try:
        probe = Probe(**raw) if isinstance(raw, dict) else None
    except TypeError:
        probe = None
    ok = (
        probe is not None
        and isinstance(probe.port, int)
        and 0 < probe.port < 65536
        and isinstance(probe.url, str)
        and URL_RE.match(probe.url) is not None
        and isinstance(probe.host, str)
        and HOST_RE.match(probe.host) is not None
        and probe.access in (PUBLIC, AUTH, DENY)
    )
    if not ok or probe is None:
        raise RecordError(f"{path}: a probe {{host, port, tls, url, access, ...}}, got {raw!r:.80}")
    return probe


def _credentials(ctx: Context, service: ServiceDef, failures: list[str]) -> str | None:
    path = service.options.get("credentials")
    if not isinstance(path, str):
        return None
    fs_path = ctx.in_root(path)
    try:
        st = fs_path.stat()
        text = fs_path.read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        failures.append(f"credentials file {path} missing or empty")
        return None
    if stat.S_IMODE(st.st_mode) & 0o077:
        failures.append(f"credentials file {path} must be mode 0600")
    return "Basic " + base64.b64encode(text.encode()).decode()


class _Check:
    """The probes of one verification, sharing one deadline."""

    def __init__(
        self,
        ctx: Context,
        service: ServiceDef,
        target: Target,
        deadline: float,
        installed: str,
        auth: str | None,
    ) -> None:
        self.ctx, self.service, self.target = ctx, service, target
        self.deadline, self.installed, self.auth = deadline, installed, auth
        self.slowest = 0.0
        self.size: int | None = None
        self.cert_days: float | None = None
        self.details: list[str] = []
        self.tokens_seen: list[str] = []
        self.connections: dict[tuple[int, bool, str], Connection] = {}
        self.judge = TokenJudge(ctx.server, ctx.role, installed)

    def probe(self, probe: Probe) -> list[str]:
        name = f"{'https' if probe.tls else 'http'}://{probe.host or self.target.address}"
        name += f":{probe.port}{probe.url}"
        try:
            status, body = self._get(probe, None)
            if probe.access == DENY:
                return self._refused(name, status, body)
            if probe.access == AUTH:
                failures = self._refused(name, status, body)
                if failures or self.auth is None:
                    return failures or [f"{name}: no verifier credentials configured"]
                status, body = self._get(probe, self.auth)
            return self._served(name, status, body)
        except TimeoutError:
            return [f"{name}: timed out"]
        except OSError as exc:  # includes ssl.SSLError and HttpError
            return [f"{name}: {_reason(exc)}"]

    def _refused(self, name: str, status: int, body: bytes) -> list[str]:
        self.details.append(f"{name} without credentials: {status}")
        if status in (401, 403):
            return []
        return [f"{name}: restricted page exposed (HTTP {status} without credentials)"]

    def _served(self, name: str, status: int, body: bytes) -> list[str]:
        self.details.append(f"{name}: {status}, {len(body)} B")
        if status != 200:
            return [f"{name}: HTTP {status}"]
        self.size = max(self.size or 0, len(body))
        match = TOKEN_RE.search(body.decode(errors="replace"))
        if match is None:
            return [f"{name}: wrong content (no verifier token)"]
        seen = match.group(1)
        self.tokens_seen.append(seen)
        if not self.judge(seen):
            return [f"{name}: wrong content (token {seen}, expected {self.installed})"]
        return []

    def _get(self, probe: Probe, auth: str | None) -> tuple[int, bytes]:
        headers = {"Host": probe.host or self.target.address, "User-Agent": "atlas-ha-verifier"}
        if auth:
            headers["Authorization"] = auth
        conn = self._connection(probe)
        started = time.monotonic()
        status, body = conn.get(probe.url, headers)
        self.slowest = max(self.slowest, time.monotonic() - started)
        if probe.tls and self.cert_days is None and conn.peer_cert:
            not_after = conn.peer_cert.get("notAfter")
            if isinstance(not_after, str):
                expires = ssl.cert_time_to_seconds(not_after)
                self.cert_days = round((expires - self.ctx.server.clock.now()) / 86400, 1)
        return status, body[:MAX_BODY]

    def _connection(self, probe: Probe) -> Connection:
        """One keep-alive connection per port, TLS and Host for all probes of the check."""
        key = (probe.port, probe.tls, probe.host)
        conn = self.connections.get(key)
        if conn is None:
            context = None
            if probe.tls:
                ca_file = self.service.options.get("ca_file")
                cafile = str(self.ctx.in_root(ca_file)) if isinstance(ca_file, str) else None
                context = ssl.create_default_context(cafile=cafile)
            server_name = probe.host or self.target.address
            conn = Connection(self.target.address, probe.port, self.deadline, context, server_name)
            self.connections[key] = conn
        return conn

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not valid: {exc.verify_message}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"
