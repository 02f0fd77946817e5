"""SetUp mode (SPEC 8.2) on the PRI before every Snapshot Create, and the SEC side after install.

run_setup (PRI only):
  1. read the synced services file (a broken file is reported and the lists are kept);
  2. make this cycle's token "<unix time>-<random hex>", remember the recent ones in
     SID_DATA/.results/verifier/tokens (private, never synced);
  3. call each service's verifier SetUp; a failing service is logged, its lists and test data
     stay as the last good SetUp left them, and the others go on (Verify reports it);
  4. write SyncFilePathsSvc<name>configs and SyncFilePathsSvc<name>data into (PRI, E), remove
     the lists of services no longer in the file, and list the services file itself in
     SyncFilePathsSvc_verifierconfigs. Create then rebuilds SyncFilePaths from all
     SyncFilePathsSvc* + SyncFilePathsSpecial.
  Test data a verifier no longer produces (a moved document root) is removed from the PRI and
  stays listed for one more cycle, so that its removal reaches every SEC.

run_after_install (SECs, after a Snapshot Install): each verifier's after_install (data that
cannot be a plain file, e.g. a PostgreSQL table), then, when any of the service's config paths
changed, its own configuration checker (`validate`, verifier/validate.py) and its reload
command: a configuration the checker rejects is not reloaded (the service keeps running its
last good one) and its changed paths stay owed (layout/validation.py). A checker that cannot
tell (missing here) is recorded as unknown and the reload goes on, as without a checker.
Failures are logged, never fatal to the cycle.

On the PRI, before Create (after SetUp), every service's checker runs too (`check_pri`).
"""

from __future__ import annotations

import json
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, FormatError
from atlas_ha.hooks import Event, Listener
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write, write_if_changed
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.api import Context, SetUpResult, Verifier, discover, verifier_for
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.validate import check, check_pri, record

LIST_PREFIX = "SyncFilePathsSvc"
OWN_LIST = f"{LIST_PREFIX}_verifierconfigs"  # '_' cannot start a service name
TOKENS_KEPT = 5
DATA_DIR = "/var/lib/atlas-ha/verifier"  # synced verifier data (token files, probe lists)


@dataclass
class SetUpReport:
    role: str
    token: str = ""
    skipped: str = ""
    services: dict[str, SetUpResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    removed_lists: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


@dataclass
class AfterInstallReport:
    role: str
    done: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# -- tokens -----------------------------------------------------------------------------------
def state_dir(server: Server) -> Path:
    return server.sid.verifier_state_dir


def new_token(now: float) -> str:
    return f"{int(now)}-{secrets.token_hex(8)}"


def token_time(token: str) -> int | None:
    head, _, tail = token.partition("-")
    if not head.isdigit() or not tail or not all(c in "0123456789abcdef" for c in tail):
        return None
    return int(head)


def recent_tokens(server: Server) -> list[str]:
    """The PRI's recent tokens, newest first (a SEC may lag by a cycle)."""
    try:
        data = json.loads((state_dir(server) / "tokens").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [t for t in data if isinstance(t, str)] if isinstance(data, list) else []


def _remember(server: Server, token: str) -> None:
    directory = state_dir(server)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = [token, *recent_tokens(server)][:TOKENS_KEPT]
    atomic_write(directory / "tokens", json.dumps(kept), mode=0o600)


def accepts(server: Server, role: str, seen: str, installed: str) -> bool:
    """Whether a token served by a partner is current: on the PRI, one of its recent tokens;
    on a SEC, the token installed here or a newer one (the PRI has moved on since)."""
    return TokenJudge(server, role, installed)(seen)


class TokenJudge:
    """`accepts` for many tokens of one check (the PRI's recent tokens are read once)."""

    def __init__(self, server: Server, role: str, installed: str) -> None:
        self.role, self.installed, self.now = role, installed, server.clock.now()
        self.recent = set(recent_tokens(server)) if role == "PRI" else set()

    def __call__(self, seen: str) -> bool:
        if self.role == "PRI":
            return seen in self.recent
        if seen == self.installed:
            return True
        t_seen, t_installed = token_time(seen), token_time(self.installed)
        if t_seen is None:
            return False
        return (t_installed is None or t_installed < t_seen) and t_seen <= self.now + 300


def data_file(service: ServiceDef, suffix: str) -> str:
    return f"{DATA_DIR}/{service.name}.{suffix}"


# -- SetUp ------------------------------------------------------------------------------------
def run_setup(server: Server) -> SetUpReport:
    role = server.role()
    report = SetUpReport(role)
    if role != "PRI":
        report.skipped = f"SetUp runs on the PRI only; this server holds {role}"
        return report
    area = server.sid.area("PRI", server.env_id).path
    root = server.settings.system_root
    had_lists = bool(list(area.glob(f"{LIST_PREFIX}*")))
    listed = (services_mod.services_file(root), services_mod.alert_rules_file(root))
    if not any(p.exists() for p in listed) and not had_lists:
        report.skipped = "no services file"
        return report
    area.mkdir(parents=True, exist_ok=True)
    write_if_changed(
        area / OWN_LIST,
        paths_mod.render([services_mod.SERVICES_PATH, services_mod.ALERT_RULES_PATH]),
    )
    try:
        services = services_mod.load(root)
    except FormatError as exc:
        report.errors.append(f"services file: {exc} (lists kept as they were)")
        server.log(f"ALERT verifier SetUp: {exc}")
        return report
    report.token = new_token(server.clock.now())
    _remember(server, report.token)
    ctx = Context(server, role, report.token, state_dir(server))
    kinds = discover()
    for service in services:
        result = _setup_one(ctx, service, kinds, report)
        if result is None and (area / f"{LIST_PREFIX}{service.name}configs").exists():
            continue  # failed: its lists (and test data) stay as the last good SetUp left them
        result = result or SetUpResult(configs=list(service.configs))
        report.services[service.name] = result
        _write_lists(server, area, service, result, report)
    report.removed_lists = _remove_stale_lists(area, {s.name for s in services})
    server.log(
        f"verifier SetUp: token {report.token}; {len(services)} services"
        + (f"; {len(report.errors)} failed" if report.errors else "")
    )
    return report


def test_data_paths(area: Path) -> list[str]:
    """The test data SetUp writes on every cycle (the SyncFilePathsSvc<name>data lists of the
    area directory `area`): synced, but changed by the cycle itself, so not watched."""
    found: list[str] = []
    for listed in sorted(area.glob(f"{LIST_PREFIX}*data")):
        found += [p for p in paths_mod.read(listed) if p not in found]
    return found


def _setup_one(
    ctx: Context, service: ServiceDef, kinds: dict[str, type[Verifier]], report: SetUpReport
) -> SetUpResult | None:
    """The service's SetUp result; None when it failed (logged: Verify will report)."""
    try:
        result = verifier_for(service, kinds).setup(ctx, service)
    except Exception as exc:  # a broken service must not stop the others (SPEC 8.2 step 3)
        message = f"service {service.name}: SetUp failed: {exc}"
        report.errors.append(message)
        ctx.server.log(f"ALERT verifier {message}")
        return None
    for note in result.notes:
        ctx.server.log(f"verifier SetUp {service.name}: {note}")
    return result


def _clean(paths: list[str], where: str, report: SetUpReport) -> list[str]:
    result: list[str] = []
    for path in paths:
        try:
            clean = paths_mod.normalise(path, where, None)
        except FormatError as exc:
            report.errors.append(str(exc))
            continue
        if clean not in result:
            result.append(clean)
    return result


def _write_lists(
    server: Server, area: Path, service: ServiceDef, result: SetUpResult, report: SetUpReport
) -> None:
    name = f"{LIST_PREFIX}{service.name}"
    configs = _clean(result.configs, f"service {service.name} configs", report)
    data = _clean(result.data, f"service {service.name} data", report)
    previous = paths_mod.read(area / f"{name}data") if (area / f"{name}data").exists() else []
    for old in previous:
        if old not in data and _retire(server.settings.system_root, old):
            data.append(old)  # listed once more while absent: the SECs remove it too
            report.retired.append(old)
    write_if_changed(area / f"{name}configs", paths_mod.render(configs))
    write_if_changed(area / f"{name}data", paths_mod.render(data))


def _retire(root: Path, path: str) -> bool:
    """Remove test data no longer produced (regular files only); True if it was there."""
    target = root / path.lstrip("/")
    try:
        st = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    target.unlink()
    return True


def _remove_stale_lists(area: Path, names: set[str]) -> list[str]:
    wanted = {OWN_LIST} | {f"{LIST_PREFIX}{n}{part}" for n in names for part in ("configs", "data")}
    removed = []
    for path in sorted(area.glob(f"{LIST_PREFIX}*")):
        if path.name not in wanted:
            path.unlink()
            removed.append(path.name)
    return removed


# -- after install (SECs) ------------------------------------------------------------------------
def run_after_install(server: Server, changed_paths: list[str]) -> AfterInstallReport:
    role = server.role()
    report = AfterInstallReport(role)
    if role == "PRI":
        return report
    root = server.settings.system_root
    try:
        services = services_mod.load(root)
    except FormatError as exc:
        report.errors.append(str(exc))
        server.log(f"ALERT verifier after install: {exc}")
        return report
    if not services:
        return report
    area = server.sid.area(role, server.env_id).path
    ctx = Context(server, role, "", state_dir(server))
    kinds = discover()
    verdicts = []
    for service in services:
        _after_install_one(ctx, service, kinds, changed_paths, report)
        configs = paths_mod.read(area / f"{LIST_PREFIX}{service.name}configs")
        configs = configs or list(service.configs)
        touched = [p for p in changed_paths if paths_mod.covered(p, configs)]
        if not touched:
            continue
        verdict = check(server, service, role)
        if verdict is not None and verdict.state == "rejected":
            verdicts.append(replace(verdict, owed=tuple(touched)))
            report.rejected.append(service.name)
            server.log(
                f"ALERT verifier: service {service.name}: installed configuration "
                f"{verdict.describe()}; not reloaded (it keeps its last good configuration)"
            )
            continue
        if verdict is not None:
            verdicts.append(verdict)
        if service.reload:
            _reload(server, service, report)
    record(server, role, verdicts, {s.name for s in services if s.validate})
    return report


def _reload(server: Server, service: ServiceDef, report: AfterInstallReport) -> None:
    argv = service.reload_argv(server.settings.system_root)
    try:
        server.runner.run(argv, timeout=service.timeout + 60)
        report.reloaded.append(service.name)
    except AtlasError as exc:
        report.errors.append(f"service {service.name}: reload failed: {exc}")
        server.log(f"ALERT verifier: service {service.name}: reload failed: {exc}")


def _after_install_one(
    ctx: Context,
    service: ServiceDef,
    kinds: dict[str, type[Verifier]],
    changed: list[str],
    report: AfterInstallReport,
) -> None:
    try:
        done = verifier_for(service, kinds).after_install(ctx, service, changed)
        report.done += [f"{service.name}: {line}" for line in done]
    except Exception as exc:  # logged, never fatal to the cycle
        report.errors.append(f"service {service.name}: after install failed: {exc}")
        ctx.server.log(f"ALERT verifier: service {service.name}: after install failed: {exc}")


def setup_quietly(server: Server) -> SetUpReport | None:
    """run_setup for the Create step: anything unexpected is logged, never fatal."""
    try:
        return run_setup(server)
    except Exception as exc:  # the Create goes on without the Verifier's data (SPEC 8.2)
        server.log(f"ALERT verifier SetUp failed: {exc}")
        return None


def after_install_quietly(server: Server, changed: list[str]) -> AfterInstallReport | None:
    try:
        return run_after_install(server, changed)
    except Exception as exc:  # the Install is done: its reloads' failure is only reported
        server.log(f"ALERT verifier after install failed: {exc}")
        return None


# -- as listeners of the hook events (hooks.py; entry points atlas_ha.listeners) ------------------
def _on_before_create(server: Server, event: Event) -> None:
    if event.role == "PRI":
        setup_quietly(server)
        check_quietly(server)


def check_quietly(server: Server) -> None:
    """The PRI's own configuration checkers before Create: logged, never fatal here (Create
    refuses on a rejection only when the settings say so)."""
    try:
        check_pri(server, services_mod.load(server.settings.system_root))
    except Exception as exc:  # the services file is reported by SetUp already
        server.log(f"ALERT verifier: the PRI's configuration checks failed: {exc}")


def _on_after_install(server: Server, event: Event) -> None:
    after_install_quietly(server, list(event.changed))


SETUP = Listener("before_create", _on_before_create)
AFTER_INSTALL = Listener("after_install", _on_after_install)
