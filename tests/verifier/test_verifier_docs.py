"""The complete example of docs/verifier.md ("Writing a verifier") works as printed."""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.services import ServiceDef, parse

DOC = Path(__file__).parents[2] / "docs" / "verifier.md"


def test_writing_a_verifier_example(ctx: Context) -> None:
    code = re.search(r"```python\n(# acme_verifiers/listing.py\n.*?)```", DOC.read_text(), re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "listing.py", "exec"), namespace)
    kind = namespace["ListingVerifier"]
    assert isinstance(kind, type) and issubclass(kind, Verifier)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)

    def serve() -> None:
        for answer in (b"share1 share2\n", b"nothing\n"):
            conn, _ = sock.accept()
            with conn:
                conn.recv(100)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    service = ServiceDef("files", "listing", timeout=2, options={"port": sock.getsockname()[1]})
    target = Target("SEC1", "127.0.0.1")
    ok = kind().verify(ctx, service, target)
    assert (ok.status, ok.summary) == (Status.OK, "SEC1 lists its shares")
    bad = kind().verify(ctx, service, target)
    assert bad.status == Status.CRITICAL and "unexpected answer" in bad.summary
    sock.close()


def test_services_file_example_parses() -> None:
    block = re.search(r"```toml\n(\[defaults\].*?)```", DOC.read_text(), re.S)
    assert block is not None
    (web,) = parse(block.group(1), "docs/verifier.md")
    assert (web.kind, web.interval, web.timeout, web.targets) == ("http", 30.0, 5.0, "partners")
