"""Serving the page with uvicorn: in the foreground (`atlas-ha report serve`) or in a thread
of the daemon (`Background`), on `[report] listen` (default 127.0.0.1:8470).

An address other than 127.0.0.1, ::1 or localhost is refused unless `[report.auth]` holds a
credential (SPEC 10: remote access needs authentication). The socket is bound here, before
uvicorn runs, so that an address in use or not held by this machine is a clear error
(ReportServeError) and never a thread dying quietly. In the daemon the server's log goes to
ESD_DATA/logs/web.log, never to a terminal.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from atlas_ha.context import Server
from atlas_ha.errors import ReportServeError
from atlas_ha.report.web.app import Page, create_app
from atlas_ha.settings import WebSettings

GRACE = 2.0  # seconds open streams get when the server stops


def check_binding(web: WebSettings, where: str) -> None:
    """Refuse an address that needs authentication when none is configured."""
    if not web.enabled:
        raise ReportServeError(f'{where}: [report] listen = "": the status page is switched off')
    if not web.local and not web.auth_configured:
        raise ReportServeError(
            f"{where}: [report] listen = {web.listen!r} is not a loopback address "
            "(127.0.0.1, ::1, localhost): configure [report.auth] users or tokens first "
            "(docs/web.md), or listen on 127.0.0.1"
        )


def bind(web: WebSettings) -> socket.socket:
    host = "127.0.0.1" if web.host == "localhost" else web.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, web.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ReportServeError(
            f"[report] listen = {web.listen!r}: cannot listen there: {exc.strerror or exc}"
        ) from exc
    sock.set_inheritable(False)
    return sock


def _uvicorn(server: Server, log_config: dict[str, object] | None) -> tuple[uvicorn.Server, Page]:
    app = create_app(server)
    config = uvicorn.Config(
        app,
        log_config=log_config,
        access_log=True,
        timeout_graceful_shutdown=int(GRACE),
        lifespan="off",
        proxy_headers=False,
        server_header=False,
    )
    page: Page = app.state.page
    return uvicorn.Server(config), page


def serve(server: Server, announce: Callable[[str], None]) -> None:
    """`atlas-ha report serve`: in the foreground until SIGINT/SIGTERM."""
    web = server.settings.web
    check_binding(web, str(server.settings.config_file))
    sock = bind(web)
    runner, page = _uvicorn(server, uvicorn.config.LOGGING_CONFIG)
    announce(f"status page of {server.name} on http://{web.listen}/")
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops on SIGTERM, then raises it again for the handler it found: this one
        # (a quiet exit 0, as after SIGINT's clean stop)
        signal.signal(signal.SIGTERM, lambda _s, _f: None)
    try:
        runner.run(sockets=[sock])
    finally:
        page.stopping.set()
        sock.close()


@dataclass
class Background:
    """The page served from a thread of the daemon."""

    runner: uvicorn.Server
    page: Page
    thread: threading.Thread
    sock: socket.socket
    handler: logging.Handler

    def stop(self, timeout: float = 10.0) -> None:
        self.page.stopping.set()
        self.runner.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).removeHandler(self.handler)
        self.handler.close()


def start_background(server: Server, timeout: float = 10.0) -> Background:
    web = server.settings.web
    check_binding(web, str(server.settings.config_file))
    sock = bind(web)
    runner, page = _uvicorn(server, None)
    log_file = server.esd.web_log_file
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    thread = threading.Thread(
        target=runner.run, kwargs={"sockets": [sock]}, name="atlas-ha-web", daemon=True
    )
    thread.start()
    background = Background(runner, page, thread, sock, handler)
    deadline = threading.Event()
    waited = 0.0
    while not runner.started:
        if not thread.is_alive() or waited > timeout:
            background.stop()
            raise ReportServeError(f"the status page did not start (see {log_file})")
        deadline.wait(0.02)
        waited += 0.02
    return background
