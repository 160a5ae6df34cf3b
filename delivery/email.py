"""Email over SMTP with the standard library: multipart text + HTML, charts inline
(``cid:``), attachments, and a Message-ID derived from the outbox key.

Errors are sorted into the two kinds the outbox acts on: ``TransientSendError``
(4xx replies, dropped connections, timeouts: retry later) and
``PermanentSendError`` (5xx: retrying cannot help, the row is dead at once).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from delivery.composed import Composed
from delivery.config import SmtpConfig


class TransientSendError(Exception):
    """Try again later."""


class PermanentSendError(Exception):
    """The receiver refused for good."""


def build_email(composed: Composed, sender: str, to: str, msg_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = composed.subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(composed.text)
    if composed.html is not None:
        message.add_alternative(composed.html, subtype="html")
        html_part = message.get_payload()[-1]
        for cid, png in composed.images.items():
            html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid}.png")
    for item in composed.attachments:
        main, sub = item.content_type.split("/", 1)
        message.add_attachment(item.data, maintype=main, subtype=sub, filename=item.filename)
    return message


def domain_of(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "stridewise.localhost"


class SmtpSender:
    """One SMTP connection reused for a run of messages, reopened after any error."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            smtp = smtplib.SMTP_SSL(
                c.host, c.port, timeout=c.timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            if c.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if c.username:
            smtp.login(c.username, c.password or "")
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            self.close()
            code, reply = next(iter(err.recipients.values()))
            raise _classified(code, reply) from err
        except smtplib.SMTPResponseException as err:
            self.close()
            raise _classified(err.smtp_code, err.smtp_error) from err
        except (smtplib.SMTPException, OSError) as err:
            self.close()
            raise TransientSendError(f"SMTP connection: {type(err).__name__}: {err}") from err
        if refused:
            code, reply = next(iter(refused.values()))
            raise _classified(code, reply)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _classified(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    reason = f"SMTP {code} {text}".strip()
    return PermanentSendError(reason) if 500 <= code < 600 else TransientSendError(reason)
