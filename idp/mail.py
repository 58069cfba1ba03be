"""Mails (SPEC 3.4): compose from French templates, send after the commit.

With ``IDP_MAIL_SERVER`` set, mails go over SMTP (STARTTLS when
``IDP_MAIL_USE_TLS``); without it, outside production, each mail is written
as an ``.eml`` file in ``instance/outbox/``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path

from flask import current_app
from flask import g
from flask import render_template

from idp.clock import utcnow

log = logging.getLogger(__name__)


def compose(to: str, template: str, **context) -> EmailMessage:
    """Build a mail from ``templates/mail/<template>.txt``; its first line is the subject."""
    context.setdefault("phone", current_app.config["IDP_ASSISTANCE_PHONE"])
    context.setdefault("manual_url", current_app.config["IDP_MANUAL_URL"])
    context.setdefault("issuer", current_app.config["IDP_ISSUER"])
    rendered = render_template(f"mail/{template}.txt", **context)
    subject, _, body = rendered.partition("\n")
    message = EmailMessage()
    message["From"] = current_app.config["IDP_MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject.removeprefix("Objet :").strip()
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="bonuseco.idp")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body.lstrip("\n"), charset="utf-8")
    return message


def send_later(message: EmailMessage) -> None:
    """Queue a mail; ``idp.database.commit()`` sends it once the data is committed."""
    g.setdefault("_outbox", []).append(message)


def discard() -> None:
    """Forget the queued mails (the transaction was rolled back)."""
    g.pop("_outbox", None)


def flush() -> int:
    """Send the queued mails; returns how many could not be delivered.

    The data is already committed: a delivery failure is logged (never the
    body) and reported to the caller rather than turned into an error page.
    """
    failed = 0
    for message in g.pop("_outbox", []):
        try:
            send_now(message)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            log.error("mail delivery failed: %s (%s)", message["Subject"], type(exc).__name__)
    return failed


def send_now(message: EmailMessage) -> None:
    config = current_app.config
    if config["IDP_MAIL_SERVER"]:
        _send_smtp(message, config)
    else:
        _write_eml(message, Path(config["OUTBOX_DIR"]))


def _send_smtp(message: EmailMessage, config) -> None:
    with smtplib.SMTP(config["IDP_MAIL_SERVER"], config["IDP_MAIL_PORT"], timeout=10) as smtp:
        if config["IDP_MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["IDP_MAIL_USERNAME"]:
            smtp.login(config["IDP_MAIL_USERNAME"], config["IDP_MAIL_PASSWORD"])
        smtp.send_message(message)
    log.info("mail sent", extra={"subject": message["Subject"]})


def _write_eml(message: EmailMessage, outbox: Path) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    (outbox / name).write_bytes(bytes(message))
