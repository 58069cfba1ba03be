"""The background sealer of each web process: ``idp.audit.seal`` every
``IDP_AUDIT_SEAL_INTERVAL`` seconds (docs/deployment.md, « Audit chain: the sealer »).

Started by the first request a process serves, not by ``create_app``: gunicorn
loads the application in its master and forks the workers, and a thread does not
survive a fork (nor should the master, which serves nothing, seal). The
commands (``idp ...``) serve no request and start none; cron runs
``idp audit seal`` instead where no web process runs. Several processes on
several hosts seal side by side safely: one at a time, the others skip
(``idp.audit.seal``).

A failing round (the database down, a statement cancelled) is logged and the
next one tries again: the thread never dies of it, and never takes the worker
with it. At exit it is told to stop and given a moment to finish its batch.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from flask import Flask

from idp import audit
from idp import database
from idp.extensions import db
from idp.settings import settings

log = logging.getLogger(__name__)

# Seconds the exit waits for a batch in flight (its statements are bounded by
# IDP_DB_STATEMENT_TIMEOUT_MS); the thread is a daemon past that.
STOP_TIMEOUT = 5


class Sealer:
    """One sealing thread per process, started on first use, stopped at exit."""

    def __init__(self, app: Flask, interval: float):
        self.app = app
        self.interval = interval
        self.rounds = 0  # rounds done by this process's thread, failed ones included
        self.round_done = threading.Event()  # set after each round (tests wait on it)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid: int | None = None
        atexit.register(self.stop)

    def ensure_running(self) -> None:
        """Start the thread in this process unless it runs (a cheap check per request)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child inherits the parent's objects, not its thread.
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="idp-audit-sealer",
                                            daemon=True)
            self._thread.start()
            self._pid = os.getpid()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            self.run_once()
            self.rounds += 1
            self.round_done.set()
            stop.wait(self.interval)

    def run_once(self) -> int | None:
        """One round: seal what waits; None when it failed or another sealer had the lock."""
        with self.app.app_context():
            try:
                return audit.seal()
            except Exception as exc:  # noqa: BLE001 (the database down: log, try next round)
                log.warning("audit sealing failed, next try in %s s: %s", self.interval,
                            type(exc).__name__)
                database.rollback()
                return None
            finally:
                db.session.remove()


def init_app(app: Flask) -> None:
    """Seal from a thread of each web process, unless off (0) or under test (the tests
    seal explicitly)."""
    interval = settings(app).audit_seal_interval
    if not interval or app.testing:
        return
    sealer = Sealer(app, interval)
    app.extensions["idp_audit_sealer"] = sealer
    app.before_request(sealer.ensure_running)
