"""The `email` channel (built in): smtplib + email.message, STARTTLS, authentication.

[channels.mail]
type = "email"
host = "smtp.example.com"      port = 587 (25 without starttls)
starttls = true                cafile = "/etc/ssl/certs/site-ca.pem" (optional)
user = "atlas"                 password_file = "/etc/atlas-ha/smtp-password" (not synced)
from = "atlas@example.com"     to = ["admin@example.com"]
timeout = 10                   subject_prefix = "[ATLAS]"
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from atlas_ha.errors import ChannelError
from atlas_ha.report.alerts.channels.base import Channel
from atlas_ha.report.alerts.model import Notification

KEYS = {"host", "port", "starttls", "cafile", "user", "password_file", "from", "to"}
KEYS |= {"timeout", "subject_prefix"}


class EmailChannel(Channel):
    def __init__(self, name: str, options: dict[str, Any], source: Path) -> None:
        super().__init__(name, options, source)
        self.known(KEYS)
        self.host = self.text("host")
        self.starttls = self.flag("starttls", True)
        port = self.options.get("port", 587 if self.starttls else 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.bad("port", "a TCP port 1..65535")
        self.port = port
        self.cafile = self.options.get("cafile")
        if self.cafile is not None:
            self.text("cafile")
        self.user = self.options.get("user")
        if self.user is not None:
            self.text("user")
            self.password_file = Path(self.text("password_file"))
        self.sender = self.text("from")
        self.to = self.texts("to")
        self.timeout = self.number("timeout", 10.0)
        self.prefix = str(self.options.get("subject_prefix", "[ATLAS]"))

    def message(self, notification: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"{self.prefix} {notification.title()}".strip()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain="atlas-ha")
        msg.set_content(notification.body())
        return msg

    def send(self, notification: Notification) -> str:
        msg = self.message(notification)
        where = f"{self.name}: {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                    smtp.ehlo()
                if self.user is not None:
                    smtp.login(self.user, self._password())
                refused = smtp.send_message(msg)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise ChannelError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise ChannelError(f"{where}: recipients refused: {sorted(refused)}")
        return f"sent to {', '.join(self.to)} via {self.host}:{self.port}"

    def _password(self) -> str:
        try:
            return self.password_file.read_text().strip("\r\n")
        except OSError as exc:
            raise ChannelError(
                f"{self.name}: cannot read password_file {self.password_file}: {exc}"
            ) from exc
