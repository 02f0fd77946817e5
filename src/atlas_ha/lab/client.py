"""What the lab's client sees: HTTP and SQL requests from the client namespace."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from atlas_ha.lab import postgres

if TYPE_CHECKING:
    from atlas_ha.lab.lab import Lab

HTTP = """
import json, urllib.error, urllib.request
try:
    r = urllib.request.urlopen({url!r}, timeout=5)
    print(json.dumps([r.status, r.headers.get("X-Atlas") or "", r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, "", ""]))
except OSError as e:
    print(json.dumps([0, "", str(e)]))
"""


def http(lab: Lab, address: str, path: str = "/") -> tuple[int, str, str]:
    """(status, X-Atlas header, body) of a GET from the client namespace; status 0 = no answer."""
    url = f"http://{address}:{lab.mode.http_port}{path}"
    out = lab.runner.run(
        lab.on_client([sys.executable, "-c", HTTP.format(url=url)]), check=False, timeout=30
    )
    status, header, body = json.loads(out.stdout)
    return int(status), str(header), str(body)


def sql(lab: Lab, address: str, query: str) -> tuple[int, list[str], str]:
    """(exit code, rows, stderr) of a psql query from the client namespace."""
    dsn = (
        f"host={address} port={lab.mode.pg_port} dbname=acme user={postgres.CLIENT_USER} "
        f"password={postgres.CLIENT_PASSWORD} connect_timeout=5"
    )
    out = lab.runner.run(lab.on_client(["psql", dsn, "-Atc", query]), check=False, timeout=30)
    return out.returncode, out.stdout.splitlines(), out.stderr
