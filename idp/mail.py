"""Mails: composed from French templates, sent once the transaction is committed.

``send_later`` adds a mail to the transaction's ``Outbox`` (``idp.database.after_commit``);
once committed, a background thread delivers it (no response waits for SMTP). The
Assistance console and the command line then wait for their mails with
``undelivered()`` and report failures.

With ``IDP_MAIL_SERVER`` set, mails go over SMTP (STARTTLS when
``IDP_MAIL_USE_TLS``); without it, outside production, each mail is written
as an ``.eml`` file in ``instance/outbox/``. A few delivery threads share the
work, each keeping its SMTP connection open while mails keep coming, so that an
import of hundreds of accounts does not wait for one connection per mail; the
mails to one address all go through the same thread, in order.
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
import zlib
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
    return failed(handed_over())


def handed_over() -> list[Delivery]:
    """The mails committed so far by this request or command, without waiting for them
    (the import goes on with its next line meanwhile, then asks ``failed``)."""
    return db.session.info.pop(_HANDED_OVER, [])


def failed(deliveries: list[Delivery]) -> int:
    """How many of ``deliveries`` could not be delivered, once each was tried."""
    return sum(not delivery.wait(REPORT_TIMEOUT) for delivery in deliveries)


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


# The delivery thread's open SMTP connection: (server settings, connection).
_held = threading.local()
# How long a delivery thread keeps its connection open without a mail to send.
IDLE_SECONDS = 2.0
# Delivery threads (and SMTP connections) per process: an import's mails leave about
# this many times faster than one at a time; a web worker rarely uses more than one.
THREADS = 4


def _connect(chosen: Settings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(chosen.mail_server, chosen.mail_port, timeout=10)
    try:
        if chosen.mail_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if chosen.mail_username:
            smtp.login(chosen.mail_username, chosen.mail_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send_smtp(message: EmailMessage, chosen: Settings) -> None:
    """Send on the delivery thread's open connection, or a new one. A kept connection
    the server has closed meanwhile (its idle timeout) is replaced once."""
    server = (chosen.mail_server, chosen.mail_port, chosen.mail_use_tls, chosen.mail_username)
    held = getattr(_held, "connection", None)
    if held is not None and held[0] != server:
        close_connection()
        held = None
    if held is not None:
        try:
            held[1].send_message(message)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            close_connection()  # closed by the server meanwhile: once more, on a new one
        except BaseException:
            close_connection()  # a refusal or a timeout: start the next mail afresh
            raise
        else:
            log.info("mail sent", extra={"subject": message["Subject"]})
            return
    smtp = _connect(chosen)
    try:
        smtp.send_message(message)
    except BaseException:
        smtp.close()
        raise
    log.info("mail sent", extra={"subject": message["Subject"]})
    if getattr(_held, "keeps_connection", False):
        _held.connection = (server, smtp)  # the delivery thread closes it once idle
    else:
        _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def close_connection() -> None:
    """Close this thread's kept SMTP connection, if any."""
    held = getattr(_held, "connection", None)
    _held.connection = None
    if held is not None:
        _quit(held[1])


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
    """A few delivery threads per process, each started on first use; a mail goes to
    the thread of its recipient (the same address always to the same thread, so its
    mails arrive in the order they were committed).

    The mails live in this process's memory only between the commit and the
    SMTP server (a second or so): they carry provisional passwords, which are
    stored nowhere else in clear. A process that dies in between loses them;
    the person asks again (forgotten password) or the helpdesk resends.
    """

    def __init__(self) -> None:
        self._queues = [queue.SimpleQueue() for _ in range(THREADS)]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._threads: list[threading.Thread | None] = [None] * THREADS

    def submit(self, settings: dict, message: EmailMessage) -> Delivery:
        delivery = Delivery()
        index = zlib.crc32(str(message["To"]).strip().lower().encode()) % THREADS
        with self._lock:
            self._pending += 1
            thread = self._threads[index]
            if thread is None or not thread.is_alive():
                thread = self._threads[index] = threading.Thread(
                    target=self._run, args=(self._queues[index],), name=f"idp-mail-{index}",
                    daemon=True)
                thread.start()
        self._queues[index].put((settings, message, delivery))
        return delivery

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self, mails: queue.SimpleQueue) -> None:
        _held.keeps_connection = True
        while True:
            try:
                settings, message, delivery = mails.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                close_connection()  # idle: the server need not hold it for us
                settings, message, delivery = mails.get()
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
