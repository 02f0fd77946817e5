"""The lab's mail sink: a real SMTP server (aiosmtpd's, with its Maildir handler) on the lab's
client host, where the alert rules the lab installs (alerts.toml, synced from the PRI) send
their mail; every message it accepts is kept, so what was sent can be shown.

    DIR/sink/maildir/{new,cur,tmp}   the messages received (one file each, Maildir)
    DIR/sink/smtp.log                the server's own log

It runs on the client host's address (namespace lab: in the client's network namespace, port
25; loopback lab: on its loopback address, port 2525) as a process the lab starts and stops by
PID. aiosmtpd comes from this Python (a development install has it) or Debian's python3
(python3-aiosmtpd); without either the lab runs without a sink and says so.

aiosmtpd's Message handler adds the envelope to every message it keeps: X-MailFrom (the
sender) and X-RcptTo (the recipients), so the recipient shown is the one the SMTP
conversation named, not a header the sender wrote.
"""

from __future__ import annotations

import mailbox
import subprocess
import sys
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from atlas_ha.lab import host

DEBIAN_PYTHON = "/usr/bin/python3"
RECIPIENT = "admin@acme.lan"
SENDER = "atlas@acme.lan"
SUBJECT_PREFIX = "[ATLAS lab]"
READY = b"Server is listening"


@dataclass(frozen=True)
class Received:
    """One message the sink accepted."""

    key: str  # its Maildir key (names it among the others)
    sender: str  # the envelope's
    recipients: tuple[str, ...]  # the envelope's
    subject: str
    body: str

    def first_lines(self, count: int = 3) -> list[str]:
        return [line for line in self.body.splitlines() if line.strip()][:count]


def python() -> str | None:
    """A Python that imports aiosmtpd (this one first), or None."""
    for candidate in (sys.executable, DEBIAN_PYTHON):
        if not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import aiosmtpd.handlers"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=30,
        )
        if probe.returncode == 0:
            return candidate
    return None


def maildir(base: Path) -> Path:
    return base / "maildir"


def log_file(base: Path) -> Path:
    return base / "smtp.log"


def argv(python: str, address: str, port: int, base: Path) -> list[str]:
    """aiosmtpd in the foreground (-n: it stays root where it starts as root: it only listens
    on the lab's own address), logging (-d) that it listens, keeping mail in the Maildir."""
    handler = ["-c", "aiosmtpd.handlers.Mailbox", str(maildir(base))]
    return [python, "-m", "aiosmtpd", "-n", "-d", "-l", f"{address}:{port}", *handler]


def start(wrap: list[str], python: str, address: str, port: int, base: Path) -> int:
    """Start the sink (`wrap`: the argv prefix putting it on the client host's network);
    its PID once it listens."""
    for sub in ("new", "cur", "tmp"):
        (maildir(base) / sub).mkdir(parents=True, exist_ok=True)
    return host.spawn(
        None, [*wrap, *argv(python, address, port, base)], log_file(base), READY, "the SMTP sink"
    )


def received(base: Path) -> list[Received]:
    """Every message the sink holds, oldest first (by delivery time, then key)."""
    where = maildir(base)
    if not (where / "new").is_dir():
        return []
    box = mailbox.Maildir(where, create=False)
    found = []
    for key in box.iterkeys():
        msg = box.get_message(key)
        found.append((msg.get_date(), key, _received(key, msg)))
    return [r for _when, _key, r in sorted(found)]


def _received(key: str, msg: Message) -> Received:
    recipients = tuple(r.strip() for r in str(msg.get("X-RcptTo", "")).split(",") if r.strip())
    payload = msg.get_payload(decode=True)
    body = payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)
    return Received(key, str(msg.get("X-MailFrom", "")), recipients, str(msg["Subject"]), body)


def rules(address: str, port: int) -> str:
    """The lab's alert rules (/etc/atlas-ha/alerts.toml of the PRI, synced): every problem is
    announced at once (the lab is a demonstration, not an office) by mail to the sink."""
    return f"""# the lab's alert rules (lab/smtp_sink.py): mail to the lab's SMTP sink
group_by_server = true
inhibit = true

[defaults]
failures = 1             # announced at the first result (an office keeps the default 3)
repeat = "0"
flapping = false

[channels.mail]
type = "email"
host = "{address}"
port = {port}
starttls = false         # the sink on the lab's own network speaks plain SMTP
from = "{SENDER}"
to = ["{RECIPIENT}"]
timeout = 10
subject_prefix = "{SUBJECT_PREFIX}"
"""
