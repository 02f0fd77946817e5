"""The `smtp` verifier: an SMTP dialogue in which a test message is accepted.

Options (services file, [service.NAME.options])::

    port = 25
    helo = "atlas-verifier.example"          # default: atlas-verifier.<this role>.invalid
    sender = "atlas-verifier@example.com"     # MAIL FROM (default: atlas-verifier@localhost)
    recipient = "postmaster@example.com"      # RCPT TO (default: postmaster@localhost)
    send = true                               # false: stop after EHLO (no message)
    require = ["8BITMIME"]                    # EHLO capabilities that must be offered
    starttls = false                          # true: STARTTLS must be offered and succeed
    tls_verify = true                         # check the certificate (with starttls)
    ca_file = "/etc/ssl/certs/local-ca.pem"   # trust anchor for tls_verify (default: system)

Measured: `connect` (seconds to the greeting), `time` (the whole dialogue). CRITICAL: no
connection, no answer within the timeout, a refused EHLO, a missing capability, STARTTLS
not offered or failing, MAIL FROM, RCPT TO or DATA refused. The message names the
verifying role and the target in its subject and an X-Atlas-HA-Verifier header.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Measurement, Profile, Status, from_checks, judged
from atlas_ha.verifier.services import ServiceDef


class SmtpOptions:
    def __init__(self, service: ServiceDef, role: str) -> None:
        opts: dict[str, Any] = service.options
        where = f"service {service.name}: options"
        self.port = opts.get("port", 25)
        self.helo = str(opts.get("helo", f"atlas-verifier.{role.lower()}.invalid"))
        self.sender = str(opts.get("sender", "atlas-verifier@localhost"))
        self.recipient = str(opts.get("recipient", "postmaster@localhost"))
        self.send = opts.get("send", True)
        self.starttls = opts.get("starttls", False)
        self.tls_verify = opts.get("tls_verify", True)
        self.ca_file = opts.get("ca_file")
        self.require = opts.get("require", [])
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"{where}.port is a port number, not {self.port!r}")
        for key in ("send", "starttls", "tls_verify"):
            if not isinstance(opts.get(key, True), bool):
                raise ValueError(f"{where}.{key} is true or false")
        if not isinstance(self.require, list) or not all(isinstance(c, str) for c in self.require):
            raise ValueError(f"{where}.require is a list of EHLO capabilities")
        if self.ca_file is not None and not isinstance(self.ca_file, str):
            raise ValueError(f"{where}.ca_file is a path")

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class SmtpVerifier(Verifier):
    kind: ClassVar[str] = "smtp"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        try:
            opts = SmtpOptions(service, ctx.role)
        except ValueError as exc:
            return Profile(Status.UNKNOWN, str(exc))
        where = f"SMTP at {target.address}:{opts.port}"
        dialogue = Dialogue(opts, target, ctx.role, service.timeout)
        try:
            failure = dialogue.run()
        except TimeoutError:
            failure = f"no answer within {service.timeout:g} s ({dialogue.step})"
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            failure = f"{dialogue.step} refused: {exc.smtp_code} {text}"
        except smtplib.SMTPException as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib wraps a read timeout
                failure = f"no answer within {service.timeout:g} s ({dialogue.step})"
            else:
                failure = f"{dialogue.step}: {exc}"
        except ssl.SSLError as exc:
            failure = f"STARTTLS failed: {exc.reason or exc}"
        except OSError as exc:
            failure = f"{dialogue.step}: {exc.strerror or exc}"
        except ValueError as exc:  # e.g. the ssl module refusing a setting
            failure = f"{dialogue.step}: {exc}"
        finally:
            dialogue.close()
        measured = [judged(label, v, "s", service.thresholds) for label, v in dialogue.times]
        return self.profile(where, failure, measured, dialogue)

    def profile(
        self,
        where: str,
        failure: str | None,
        measured: list[tuple[Measurement, Status]],
        dialogue: Dialogue,
    ) -> Profile:
        failures = [f"{where}: {failure}"] if failure else []
        done = "message accepted" if dialogue.opts.send else "EHLO accepted"
        data = {"capabilities": sorted(dialogue.capabilities), "message_id": dialogue.message_id}
        return from_checks(failures, f"{where}: {done}", measured, "\n".join(dialogue.log), data)


class Dialogue:
    """One SMTP session; `step` names what it was doing when something failed."""

    def __init__(self, opts: SmtpOptions, target: Target, role: str, timeout: float) -> None:
        self.opts, self.target, self.role, self.timeout = opts, target, role, timeout
        self.step = "connect"
        self.smtp: smtplib.SMTP | None = None
        self.times: list[tuple[str, float]] = []
        self.capabilities: set[str] = set()
        self.message_id = ""
        self.log: list[str] = []
        self.deadline = time.monotonic() + timeout

    def at(self, step: str) -> smtplib.SMTP:
        """Start `step` with what is left of the timeout as the socket timeout."""
        assert self.smtp is not None
        self.step = step
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if self.smtp.sock is not None:
            self.smtp.sock.settimeout(remaining)
        return self.smtp

    def run(self) -> str | None:
        started = time.monotonic()
        # connecting in the constructor also names the host for STARTTLS's certificate check;
        # a greeting other than 220 raises SMTPConnectError
        self.smtp = smtplib.SMTP(self.target.address, self.opts.port, timeout=self.timeout)
        self.times.append(("connect", time.monotonic() - started))
        self.log.append("greeting 220")
        failure = self.ehlo()
        if failure is None and self.opts.starttls:
            failure = self.upgrade()
        if failure is None:
            failure = self.missing_capabilities()
        if failure is None and self.opts.send:
            self.send_message()
        self.at("QUIT").quit()
        self.times.append(("time", time.monotonic() - started))
        return failure

    def ehlo(self) -> str | None:
        smtp = self.at("EHLO")
        code, text = smtp.ehlo(self.opts.helo)
        self.log.append(f"EHLO {code} {text.decode('utf-8', 'replace')}")
        if code != 250:
            return f"EHLO refused: {code}"
        self.capabilities = {c.upper() for c in smtp.esmtp_features}
        return None

    def upgrade(self) -> str | None:
        smtp = self.at("STARTTLS")
        if "STARTTLS" not in self.capabilities:
            return "STARTTLS is required but not offered"
        smtp.starttls(context=self.opts.tls_context())
        self.log.append("STARTTLS ok")
        return self.ehlo()

    def missing_capabilities(self) -> str | None:
        missing = [c for c in self.opts.require if c.upper() not in self.capabilities]
        if missing:
            offered = ", ".join(sorted(self.capabilities)) or "none"
            return f"capabilities {missing} not offered (offered: {offered})"
        return None

    def send_message(self) -> None:
        self.message_id = f"<{uuid.uuid4().hex}@atlas-ha.verifier>"
        msg = EmailMessage()
        msg["From"] = self.opts.sender
        msg["To"] = self.opts.recipient
        msg["Subject"] = f"atlas-ha verifier test from {self.role} to {self.target.role}"
        msg["Date"] = formatdate()
        msg["Message-ID"] = self.message_id
        msg["X-Atlas-HA-Verifier"] = f"{self.role} -> {self.target.role} {self.target.address}"
        msg.set_content("Test message of the atlas-ha Verifier; it can be discarded.\n")
        for step in ("MAIL FROM", "RCPT TO", "DATA"):
            smtp = self.at(step)
            if step == "MAIL FROM":
                code, text = smtp.mail(self.opts.sender)
            elif step == "RCPT TO":
                code, text = smtp.rcpt(self.opts.recipient)
            else:
                code, text = smtp.data(msg.as_bytes())
            self.log.append(f"{step} {code} {text.decode('utf-8', 'replace')}")
            if code not in (250, 251):
                raise smtplib.SMTPResponseException(code, text)

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
