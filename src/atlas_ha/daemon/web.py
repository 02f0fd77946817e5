"""The status page in the daemon (SPEC 7.1): served from a thread while the daemon runs, on
`[report] listen` (default 127.0.0.1:8470; "" switches it off), stopped with the daemon.

A page that cannot start (an address in use, a non-loopback address without authentication)
is an ALERT line in the daemon's log; the SyncCycle loop and the Verifier go on without it.
So is a Python without the page's libraries (an install that did not bring its dependencies).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError

if TYPE_CHECKING:
    from atlas_ha.report.web.server import Background


@contextlib.contextmanager
def status_page(server: Server, log: Callable[[str], None]) -> Iterator[Background | None]:
    web = server.settings.web
    page: Background | None = None
    if web.enabled:
        try:  # the page's libraries (starlette, uvicorn, jinja2, prometheus-client)
            from atlas_ha.report.web.server import start_background
        except ImportError as exc:  # an install without them still syncs and verifies
            missing = exc.name or str(exc)
            log(f"ALERT status page: not served, {missing} is not installed (atlas-ha's deps)")
        else:
            try:
                page = start_background(server)
                log(f"status page on http://{web.listen}/")
            except AtlasError as exc:
                log(f"ALERT status page: {exc}")
    try:
        yield page
    finally:
        if page is not None:
            page.stop()
