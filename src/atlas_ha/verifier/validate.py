"""Each service's configuration checked by the service's own checker (issue 13 item 3).

A service definition names its checker (`validate = "nginx -t -c {root}/etc/nginx/nginx.conf"`,
`{root}` = this server's system root). It runs:

* on a SEC after every Install, before the service is reloaded (verifier/setup.py): a
  rejected configuration is not reloaded (the running service keeps its last good one) and
  its reload stays owed until a later Install passes the check;
* on the PRI before every Create (the before_create listener), so that a broken PRI
  configuration is reported before it is sent (and refused with `[sync] rejected = "refuse"`);
* every round as the check `<service>:config@<own role>` (ConfigVerifier): CRITICAL naming the
  file, line and the checker's message; UNKNOWN when the checker is missing or gives no
  answer (never OK).

The verdicts are recorded in ESD_DATA/validation.json (layout/validation.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.layout import validation
from atlas_ha.layout.validation import Verdict
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef

CONFIG_SUFFIX = ":config"  # the check of a service's configuration (':' is in no service name)
NOT_FOUND = (126, 127)  # a shell's "not executable" / "not found"
# where checkers name the file and line of the error, most specific first
LOCATIONS = (
    re.compile(r'file "(?P<file>/[^"]+)" line (?P<line>\d+)'),  # postgres
    re.compile(r"(?P<file>/[^\s:]+): line (?P<line>\d+)"),  # sshd
    re.compile(r"line (?P<line>\d+) (?:of|in file) (?P<file>/[^\s:,]+)"),  # dnsmasq, chronyd
    re.compile(r"in (?P<file>/[^\s:]+):(?P<line>\d+)"),  # nginx
    re.compile(r"(?P<file>/[^\s:]+):(?P<line>\d+)"),  # named-checkconf and most others
)


def checker_name(argv: tuple[str, ...]) -> str:
    """How reports name a checker: its program and leading switches ("nginx -t")."""
    if not argv:
        return ""
    words = [Path(argv[0]).name]
    for i, word in enumerate(argv[1:], start=1):
        if not word.startswith("-") or "/" in word or "{" in word:
            break
        following = argv[i + 1] if i + 1 < len(argv) else "-"
        if not following.startswith("-"):
            break  # a switch with a value: "-c FILE"
        words.append(word)
    return " ".join(words)


def locate(output: str, root: Path) -> tuple[str, str, int | None]:
    """(message, file, line) from a checker's output: the first line naming a file and line
    (paths below the system root shown as system paths), else its first line."""
    base = str(root).rstrip("/")
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    shown = [ln.replace(base + "/", "/") if base else ln for ln in lines]
    for text in shown:
        for pattern in LOCATIONS:
            match = pattern.search(text)
            if match:
                return text, match["file"], int(match["line"])
    return (shown[0] if shown else "no message"), "", None


def check(server: Server, service: ServiceDef, role: str) -> Verdict | None:
    """Run the service's checker against this server's system root (None: it names none)."""
    if not service.validate:
        return None
    root = server.settings.system_root
    argv = service.validate_argv(root)
    name = checker_name(service.validate)
    verdict = Verdict(service.name, role, server.env_id, "unknown", name)
    try:
        done = server.runner.run(
            argv, env=server.settings.checker_env(), timeout=service.timeout, check=False
        )
    except AtlasError as exc:  # not found, not runnable, no answer in time
        return _with(verdict, "unknown", f"{exc} on {server.name}")
    output = "\n".join(part for part in (done.stderr, done.stdout) if part)
    if done.returncode == 0:
        return _with(verdict, "passed", "")
    if done.returncode in NOT_FOUND:
        return _with(verdict, "unknown", f"{argv[0]}: cannot run on {server.name}: {output}")
    message, file, line = locate(output, root)
    return Verdict(service.name, role, server.env_id, "rejected", name, message, file, line)


def _with(verdict: Verdict, state: str, message: str) -> Verdict:
    return Verdict(verdict.service, verdict.role, verdict.env, state, verdict.checker, message)


def record(server: Server, role: str, verdicts: list[Verdict], names: set[str]) -> None:
    """Record `verdicts` over the earlier ones of `role`; services not in `names` (no longer
    in the services file, or no longer checked) are forgotten."""
    earlier = validation.read(server.esd, role)
    if not verdicts and not earlier:
        return  # nothing checked, nothing to forget
    kept = {n: v for n, v in earlier.items() if n in names}
    kept.update({v.service: v for v in verdicts})
    validation.write(server.esd, list(kept.values()))


def check_pri(server: Server, services: list[ServiceDef]) -> list[Verdict]:
    """The PRI before Create: every checked service, recorded; rejections logged as ALERTs."""
    verdicts = [v for s in services if (v := check(server, s, "PRI")) is not None]
    record(server, "PRI", verdicts, {s.name for s in services if s.validate})
    for v in verdicts:
        if v.state != "passed":
            server.log(f"ALERT PRI configuration of {v.service} {v.describe()}")
    return verdicts


class ConfigVerifier(Verifier):
    """The check `<service>:config` of this server itself: the checker, run now."""

    kind: ClassVar[str] = "config"
    default_targets: ClassVar[str] = "self"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        name = service.name.removesuffix(CONFIG_SUFFIX)
        original = ServiceDef(
            name, service.kind, validate=service.validate, timeout=service.timeout
        )
        verdict = check(ctx.server, original, ctx.role)
        if verdict is None:
            return Profile(Status.UNKNOWN, f"{name}: no checker named")
        if verdict.state == "passed":
            return Profile(Status.OK, f"{name}: configuration {verdict.describe()}")
        if verdict.state == "unknown":
            return Profile(Status.UNKNOWN, f"{name}: configuration {verdict.describe()}")
        held = validation.read(ctx.server.esd, ctx.role).get(name)
        details = (
            "not reloaded: the running service keeps its last good configuration"
            if held is not None and held.state == "rejected" and held.owed
            else ""
        )
        data = {"file": verdict.file, "line": verdict.line, "checker": verdict.checker}
        summary = f"{name}: configuration {verdict.describe()}"
        return Profile(Status.CRITICAL, summary, details=details, data=data)


def config_check_of(service: ServiceDef) -> ServiceDef:
    """The definition of a service's `:config` check (own target, the service's timeout)."""
    return ServiceDef(
        name=service.name + CONFIG_SUFFIX,
        kind=ConfigVerifier.kind,
        validate=service.validate,
        interval=service.interval,
        timeout=service.timeout,
        targets="self",
    )
