"""Kind `nagios`: run any monitoring-plugins/Nagios plugin under its standard contract.

    [service.web-plugin]
    kind = "nagios"
    timeout = 10
    [service.web-plugin.options]
    command = ["check_http", "-H", "{address}", "-p", "80", "-u", "/"]
    # plugin_dir = "/usr/lib/nagios/plugins"   where a command without '/' is looked up

{address} and {role} are the target's, {timeout} the service's timeout in whole seconds.
The exit code is the status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; anything else is
UNKNOWN), the first line the summary, perfdata the measured values (judged by the plugin's own
warn/crit ranges, for display; a service threshold of the same label can raise the status),
the long text the details. A plugin still running at 90 % of the service's timeout is
killed: CRITICAL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atlas_ha.errors import AtlasError
from atlas_ha.system import Completed
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.kinds.nagios_output import PerfDatum, parse_output
from atlas_ha.verifier.profile import Measurement, Profile, Status, judged, worst
from atlas_ha.verifier.services import ServiceDef

PLUGIN_DIR = "/usr/lib/nagios/plugins"


class NagiosVerifier(Verifier):
    kind = "nagios"
    default_targets = "partners"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        argv = plugin_argv(service, target)
        limit = service.timeout * 0.9
        try:
            # the output is for display: a plugin's non-UTF-8 bytes show as U+FFFD
            done = ctx.server.runner.run(argv, timeout=limit, check=False, errors="replace")
        except AtlasError as exc:
            text = str(exc)
            if "no answer within" in text:
                return Profile(
                    Status.CRITICAL,
                    f"{Path(argv[0]).name}: no answer within {limit:g} s (killed)",
                    data={"argv": argv},
                )
            return Profile(Status.UNKNOWN, text, data={"argv": argv})
        return profile_of(done, service)


def plugin_argv(service: ServiceDef, target: Target) -> list[str]:
    command: Any = service.options.get("command")
    if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
        raise AtlasError(
            f"service {service.name}: options.command = [plugin, args...] is required "
            f"(a list of strings), got {command!r}"
        )
    plugin_dir = str(service.options.get("plugin_dir", PLUGIN_DIR))
    values = {
        "address": target.address,
        "role": target.role,
        "timeout": str(max(1, int(service.timeout))),
    }
    argv = [_substitute(part, values) for part in command]
    if "/" not in argv[0]:
        argv[0] = str(Path(plugin_dir) / argv[0])
    return argv


def _substitute(part: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        part = part.replace("{" + key + "}", value)
    return part


def profile_of(done: Completed, service: ServiceDef) -> Profile:
    """The profile of one plugin run: exit code, first line, perfdata, long text."""
    output = parse_output(done.stdout)
    code = done.returncode
    status = Status(code) if code in (0, 1, 2, 3) else Status.UNKNOWN
    summary = output.summary or _first_line(done.stderr) or f"no output (exit {code})"
    if code not in (0, 1, 2, 3):
        summary = f"exit {code} (not a plugin status): {summary}"
    measured = [_measurement(d, service) for d in output.perfdata if d.value is not None]
    statuses = [status] + [s for _m, s in measured]
    details = "\n".join(
        [output.long_text]
        + [f"perfdata: {p}" for p in output.problems]
        + ([f"stderr: {done.stderr.strip()}"] if done.stderr.strip() else [])
    ).strip()
    return Profile(
        worst(statuses),
        summary,
        tuple(m for m, _s in measured),
        details,
        {"argv": list(done.argv), "exit": code, "plugin_status": status.name},
    )


def _measurement(datum: PerfDatum, service: ServiceDef) -> tuple[Measurement, Status]:
    assert datum.value is not None
    if datum.label in service.thresholds:
        return judged(datum.label, datum.value, datum.uom, service.thresholds)
    judgement = datum.judgement()
    measurement = Measurement(
        datum.label,
        datum.value,
        datum.uom,
        judgement,
        warn=datum.warn,
        crit=datum.crit,
        min=datum.min,
        max=datum.max,
    )
    return measurement, Status.OK  # the plugin's exit code already reflects its own ranges


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0] if text.strip() else ""
