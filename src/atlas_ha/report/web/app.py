"""The status page's routes: server-rendered pages, the JSON API, the live stream, metrics and
the operator actions. Every read goes through `Source` (source.py); every request through
`Guard` (who asks, from which Host; the security headers of every answer).

    GET  /                     banner + servers x services grid + readiness + last cycle
    GET  /service/{name}       a service: summary, measured values against thresholds, details
    GET  /server/{role}        a server: SEV, validity per area, last compare with its diffs
    GET  /readiness            failover readiness per SEC
    GET  /events               what happened: the event log (report/events.py)
    GET  /live                 Server-Sent Events: the page's live state
    GET  /metrics              Prometheus (report/metrics.py)
    GET  /api/v1/overview | /api/v1/services/{name} | /api/v1/servers/{role}
         /api/v1/readiness | /api/v1/events
    POST /actions/cycle | /actions/suspend | /actions/resume | /actions/silence
         /actions/acknowledge (operator role and the CSRF token: 403 otherwise)
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.report import metrics
from atlas_ha.report.web import actions, sse
from atlas_ha.report.web.auth import Authenticator, Principal
from atlas_ha.report.web.csrf import COOKIE, FIELD, Csrf
from atlas_ha.report.web.source import Source
from atlas_ha.settings import LOCAL_HOSTS, WebSettings

HERE = Path(__file__).parent
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        b"img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
DONE = {
    "cycle": "A SyncCycle was requested: the daemon starts it within a few seconds.",
    "suspended": "The Synchronizer is suspended.",
    "resumed": "The Synchronizer is resumed.",
    "not-suspended": "The Synchronizer was not suspended.",
    "silenced": "The silence is in force.",
    "acknowledged": "The alert is acknowledged: no repeats until its state changes.",
}
MAX_FORM = 4096


class Guard:
    """Every HTTP request: a Host this server answers for (without authentication, only its
    loopback names, against DNS rebinding), then who asks (401 when nobody valid); the
    security headers on every answer."""

    def __init__(self, app: ASGIApp, web: WebSettings, auth: Authenticator) -> None:
        self.app, self.web, self.auth = app, web, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        if not self.auth.required and not _local_host(headers.get("host", "")):
            await plain(421, "this page answers for its loopback address only")(
                scope, receive, secured
            )
            return
        principal = await run_in_threadpool(self.auth.identify, headers.get("authorization"))
        if principal is None:
            refusal = plain(401, "authentication required")
            refusal.headers["www-authenticate"] = 'Basic realm="atlas-ha", charset="UTF-8"'
            await refusal(scope, receive, secured)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, secured)


def plain(code: int, text: str) -> Response:
    return Response(f"{code} {text}\n", status_code=code, media_type="text/plain")


def _local_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") <= 1 else host.rpartition("]")[0] + "]"
    return name.strip("[]") in LOCAL_HOSTS


class Page:
    """The handlers, bound to one server's source."""

    def __init__(self, server: Server, source: Source) -> None:
        self.server, self.source = server, source
        self.csrf = Csrf()
        self.stopping = threading.Event()
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = _when
        self.env.filters["age"] = _age
        self.env.filters["slots"] = _slots

    # -- rendering --------------------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
        principal: Principal = request.state.principal
        nonce, new = self.csrf.nonce(request.cookies.get(COOKIE))
        html = self.env.get_template(template).render(
            principal=principal,
            csrf_field=FIELD,
            csrf=self.csrf.token(nonce, principal.name),
            done=DONE.get(request.query_params.get("done", "")),
            now=self.server.clock.now(),
            **ctx,
        )
        response = HTMLResponse(html, status_code=status)
        if new:
            response.set_cookie(
                COOKIE,
                nonce,
                httponly=True,
                samesite="strict",
                path="/",
                secure=request.url.scheme == "https",
            )
        return response

    def missing(self, request: Request, what: str) -> Response:
        return self.render(request, "missing.html", status=404, what=what)

    # -- pages ------------------------------------------------------------------------------
    def top(self, request: Request) -> Response:
        view = self.source.overview()
        pending = actions.pending_cycle_request(self.server)
        alerts = self.source.alerts()
        return self.render(request, "index.html", view=view, pending=pending, alerts=alerts)

    def service(self, request: Request) -> Response:
        name = request.path_params["name"]
        view = self.source.service(name)
        if view is None:
            return self.missing(request, f"no results of a service {name!r}")
        return self.render(request, "service.html", view=view)

    def server_page(self, request: Request) -> Response:
        role = request.path_params["role"]
        view = self.source.server_view(role)
        if view is None:
            return self.missing(request, f"no server {role!r} in this group")
        return self.render(request, "server.html", view=view)

    def readiness(self, request: Request) -> Response:
        return self.render(request, "readiness.html", view=self.source.overview())

    def events(self, request: Request) -> Response:
        return self.render(request, "events.html", events=self.source.events())

    async def live(self, request: Request) -> Response:
        return StreamingResponse(
            sse.stream(self.source, self.stopping),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    def metrics(self, request: Request) -> Response:
        return Response(metrics.render(self.source), media_type=metrics.CONTENT_TYPE)

    # -- API --------------------------------------------------------------------------------
    def api_overview(self, request: Request) -> Response:
        return JSONResponse(self.source.overview().to_dict())

    def api_service(self, request: Request) -> Response:
        view = self.source.service(request.path_params["name"])
        if view is None:
            return JSONResponse({"error": "no such service"}, status_code=404)
        return JSONResponse(view.to_dict())

    def api_server(self, request: Request) -> Response:
        view = self.source.server_view(request.path_params["role"])
        if view is None:
            return JSONResponse({"error": "no such server"}, status_code=404)
        return JSONResponse(view.to_dict())

    def api_readiness(self, request: Request) -> Response:
        return JSONResponse([asdict(r) for r in self.source.overview().readiness])

    def api_events(self, request: Request) -> Response:
        return JSONResponse([asdict(e) for e in self.source.events()])

    # -- actions ----------------------------------------------------------------------------
    async def act(self, request: Request) -> Response:
        principal: Principal = request.state.principal
        if not principal.can_act:
            return self.refuse(
                request,
                f"{principal.name} ({principal.role}): the operator role is needed for this action",
            )
        if int(request.headers.get("content-length") or 0) > MAX_FORM:
            return plain(413, "form too large")
        form = await request.form(max_files=0, max_fields=8)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        submitted = form.get(FIELD)
        if not self.csrf.valid(
            request.cookies.get(COOKIE),
            submitted if isinstance(submitted, str) else None,
            principal.name,
        ):
            return self.refuse(
                request, "the CSRF token is missing or wrong: reload the page and try again"
            )
        what = request.path_params["what"]
        try:
            done = await run_in_threadpool(self._do, what, fields, principal)
        except AtlasError as exc:
            return self.render(request, "missing.html", status=409, what=str(exc))
        if done is None:
            return self.missing(request, f"no action {what!r}")
        return RedirectResponse(f"/?done={done}", status_code=303)

    def _do(self, what: str, form: dict[str, str], principal: Principal) -> str | None:
        by, reason = f"{principal.name}", form.get("reason", "")
        if what == "cycle":
            actions.request_cycle(self.server, by)
            return "cycle"
        if what == "suspend":
            actions.suspend_from_page(self.server, reason, by)
            return "suspended"
        if what == "resume":
            return "resumed" if actions.resume_from_page(self.server) else "not-suspended"
        if what == "silence":
            actions.silence_from_page(
                self.server, form.get("match", ""), form.get("for", ""), reason, by
            )
            return "silenced"
        if what == "acknowledge":
            actions.acknowledge_from_page(self.server, form.get("subject", ""), reason, by)
            return "acknowledged"
        return None

    def refuse(self, request: Request, why: str) -> Response:
        return self.render(request, "missing.html", status=403, what=why)


def create_app(server: Server, source: Source | None = None) -> Starlette:
    """The page of `server` (its settings' [report] section says who may see it)."""
    page = Page(server, source or Source(server))
    routes = [
        Route("/", page.top),
        Route("/service/{name}", page.service),
        Route("/server/{role}", page.server_page),
        Route("/readiness", page.readiness),
        Route("/events", page.events),
        Route("/live", page.live),
        Route("/metrics", page.metrics),
        Route("/api/v1/overview", page.api_overview),
        Route("/api/v1/services/{name}", page.api_service),
        Route("/api/v1/servers/{role}", page.api_server),
        Route("/api/v1/readiness", page.api_readiness),
        Route("/api/v1/events", page.api_events),
        Route("/actions/{what}", page.act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    web = server.settings.web
    app.add_middleware(Guard, web=web, auth=Authenticator(web))
    app.state.page = page
    return app


SLOT_STATES = frozenset({"OK", "WARNING", "CRITICAL", "UNKNOWN", "NONE"})


def _slots(strip: tuple[str, ...]) -> Markup:
    """A time strip's slots, one <i> each (joined here: the template's loop over 200 cells x
    114 slots was most of the top page's render time)."""
    slots = "".join(f'<i class="st-{s if s in SLOT_STATES else "NONE"}"></i>' for s in strip)
    return Markup(slots)  # noqa: S704 (only the fixed state names above reach the markup)


def _when(stamp: object) -> str:
    if not isinstance(stamp, int | float) or not stamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _age(stamp: object, now: float) -> str:
    if not isinstance(stamp, int | float) or not stamp:
        return "never"
    seconds = max(0.0, now - stamp)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"
