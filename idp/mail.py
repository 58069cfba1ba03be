"""Mails: composed from French templates, sent once the transaction is committed.

``send_later`` adds a mail to the transaction's ``Outbox`` (``idp.database.after_commit``);
once committed, a background thread delivers it (no response waits for SMTP). The
Assistance console and the command line then wait for their mails with
``undelivered()`` and report failures.

With ``IDP_MAIL_SERVER`` set, mails go over SMTP (STARTTLS when
``IDP_MAIL_USE_TLS``); without it, outside production, each mail is written
as an ``.eml`` file in ``instance/outbox/``.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import smtplib
import ssl
import threading
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path

from flask import render_template

from idp.clock import fr_date
from idp.clock import fr_datetime
from idp.clock import utcnow
from idp.database import after_commit
from idp.extensions import db
from idp.settings import Settings
from idp.settings import settings

log = logging.getLogger(__name__)


def compose(to: str, template: str, **context) -> EmailMessage:
    """Build a mail from ``templates/mail/<template>.txt``; its first line is the subject.

    Times are written with ``fr_datetime`` and ``fr_date``: in Paris time, as the pages
    show them (``idp.clock``), never the UTC the database keeps.
    """
    context.update(fr_datetime=fr_datetime, fr_date=fr_date)
    context.setdefault("phone", settings().assistance_phone)
    context.setdefault("manual_url", settings().manual_url)
    context.setdefault("issuer", settings().issuer)
    rendered = render_template(f"mail/{template}.txt", **context)
    subject, _, body = rendered.partition("\n")
    message = EmailMessage()
    message["From"] = settings().mail_sender
    message["To"] = to
    message["Subject"] = subject.removeprefix("Objet :").strip()
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="bonuseco.idp")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body.lstrip("\n"), charset="utf-8")
    return message


class Outbox(list):
    """The mails of a transaction, handed to the delivery thread once it is committed."""

    def __call__(self) -> None:
        handed_over = db.session.info.setdefault(_HANDED_OVER, [])
        handed_over.extend(_sender.submit(settings, message) for settings, message in self)


_HANDED_OVER = "idp_mails_handed_over"
# How long a caller reporting failures waits for one mail (SMTP has 10 s per step).
REPORT_TIMEOUT = 60.0


def send_later(message: EmailMessage) -> None:
    """Send ``message`` once the current transaction is committed (never if rolled back).

    Mails leave from a background thread, so that no response waits for the SMTP
    server: a right forgotten-password answer (which sends a provisional password)
    takes as long as a wrong one, and the third failure of a real account (lock
    notice) as long as that of an unknown identifier (docs/security.md).
    """
    after_commit(Outbox).append((settings(), message))


def undelivered() -> int:
    """How many of the mails committed so far by this request or command could not be
    delivered, once each was tried; for the callers that report it (Assistance
    console, command line). A failure is logged, never the body."""
    handed_over = db.session.info.pop(_HANDED_OVER, [])
    return sum(not delivery.wait(REPORT_TIMEOUT) for delivery in handed_over)


def wait_until_sent(timeout: float = 10.0) -> bool:
    """Block until this process's background mails are all handed over (tests, exit)."""
    return _sender.wait_idle(timeout)


def deliver(message: EmailMessage, chosen: Settings) -> None:
    """Send over SMTP, or write an ``.eml`` file when no server is configured."""
    if chosen.mail_server:
        _send_smtp(message, chosen)
    else:
        _write_eml(message, Path(chosen.outbox_dir))


def _log_failure(message: EmailMessage, exc: BaseException) -> None:
    log.error("mail delivery failed: %s (%s)", message["Subject"], type(exc).__name__)


def _send_smtp(message: EmailMessage, chosen: Settings) -> None:
    with smtplib.SMTP(chosen.mail_server, chosen.mail_port, timeout=10) as smtp:
        if chosen.mail_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if chosen.mail_username:
            smtp.login(chosen.mail_username, chosen.mail_password)
        smtp.send_message(message)
    log.info("mail sent", extra={"subject": message["Subject"]})


def _write_eml(message: EmailMessage, outbox: Path) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    (outbox / name).write_bytes(bytes(message))


class Delivery:
    """One mail handed to the delivery thread: ``wait`` says whether it left."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.sent = False

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout) and self.sent


class _Sender:
    """One delivery thread per process, started on first use.

    The mails live in this process's memory only between the commit and the
    SMTP server (a second or so): they carry provisional passwords, which are
    stored nowhere else in clear. A process that dies in between loses them;
    the person asks again (forgotten password) or the helpdesk resends.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, settings: dict, message: EmailMessage) -> Delivery:
        delivery = Delivery()
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="idp-mail", daemon=True)
                self._thread.start()
        self._queue.put((settings, message, delivery))
        return delivery

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            settings, message, delivery = self._queue.get()
            try:
                deliver(message, settings)
                delivery.sent = True
            except Exception as exc:  # noqa: BLE001 (a mail must never kill the thread)
                _log_failure(message, exc)
            finally:
                delivery.done.set()
                with self._lock:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.notify_all()


_sender = _Sender()


def _new_sender_after_fork() -> None:
    """A forked worker has no delivery thread: its parent's queue stays the parent's."""
    global _sender
    _sender = _Sender()


os.register_at_fork(after_in_child=_new_sender_after_fork)
# A command or a worker that exits gives its last mails a moment to leave.
atexit.register(wait_until_sent, 10.0)
