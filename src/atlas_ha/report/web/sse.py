"""The live stream (Server-Sent Events): an open page learns of a state change within a
second, without reloading.

Every POLL seconds the stream stats the source's watched files (the results database and
its WAL, the last cycle's report, the suspension, the MasterConfig); when one changed it
rebuilds the page's live state and sends it as one `state` event if it differs from the last
one sent. A comment line every KEEPALIVE seconds keeps proxies from closing an idle stream.
The stream ends when the client goes away or the server stops.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from atlas_ha.report.web.source import Source

POLL = 0.2
KEEPALIVE = 15.0


async def stream(
    source: Source, stopping: threading.Event, poll: float = POLL
) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    stamp: tuple[Any, ...] | None = None
    sent: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    while not stopping.is_set():
        now_stamp = await run_in_threadpool(source.stamp)
        if now_stamp != stamp:
            stamp = now_stamp
            state = (await run_in_threadpool(source.overview)).live()
            if state != sent:
                sent = state
                quiet_since = time.monotonic()
                yield f"event: state\ndata: {json.dumps(state, sort_keys=True)}\n\n"
        if time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        await asyncio.sleep(poll)
