"""The status page (SPEC 7.4, 10): Starlette + uvicorn, server-rendered with Jinja2, live
updates by Server-Sent Events, a JSON API under /api/v1 and Prometheus /metrics.

    source.py   the page's reads: the status model's verdicts (report/loader + model) and details
    auth.py     who asks: users (scrypt) and tokens (SHA-256), viewer or operator
    csrf.py     the double-submit token of the operator actions
    actions.py  run a cycle now (a request the daemon takes), suspend, resume
    sse.py      the live stream: the watched files' stamps, the page's new state
    app.py      routes, pages, API
    server.py   uvicorn: in the foreground (`report serve`) or in a thread of the daemon
"""
