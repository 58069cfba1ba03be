"""Unbound extensions, bound to the application in ``create_app``."""

import logging
import time

from flask import Flask
from flask import g
from flask import has_request_context
from flask import request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


def client_ip() -> str:
    """The client address; ProxyFix (IDP_PROXY_HOPS) decides which hop is trusted."""
    return request.remote_addr or "unknown"


def request_cache(name: str) -> dict:
    """A dict that lives as long as the current request (empty outside one).

    For what a request asks several times and cannot change meanwhile (the
    client Authlib looks up three times, the SSO session behind a grant); never
    longer, so that a change made elsewhere is seen by the next request.
    """
    if not has_request_context():
        return {}
    return g.setdefault(f"_idp_cache_{name}", {})


log = logging.getLogger(__name__)
# A 429's Retry-After when the store cannot say when the window frees up.
DEFAULT_RETRY_AFTER_SECONDS = 60


class _Limiter(Limiter):
    """Flask-Limiter with nothing that can fail once the view has run.

    Limits are checked, and counted, before the view (a store that does not
    answer refuses the request there: 503, nothing done). After the view the
    work may be committed (a rotated refresh token, a counted login failure):
    a store that breaks then must not turn the answer into an error, so the
    limits counted only on refusal (``deduct_when``) are counted here, and a
    failure is logged instead of raised; no X-RateLimit header is computed
    (``RATELIMIT_HEADERS_ENABLED`` off). docs/deployment.md, « Redis ».
    """

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        # Registered after Flask-Limiter's own hook, so it runs before it and leaves
        # that hook nothing to count (Flask runs after-request hooks in reverse order).
        app.after_request(self._count_refusals)

    def _count_refusals(self, response):
        deductions = self.context.conditional_deductions
        for limit, args in list(deductions.items()):
            try:
                if limit.deduct_when(response):
                    self.limiter.hit(limit.limit, *args, cost=limit.deduction_amount)
            except Exception as exc:  # noqa: BLE001 (the answer is decided: log, go on)
                log.warning("rate-limit refusal not counted: %s", type(exc).__name__)
        deductions.clear()
        return response

    def store_answers(self) -> bool:
        """The store answers (memory:// always does; Redis must answer a PING)."""
        try:
            return bool(self.storage.check())
        except Exception:  # noqa: BLE001 (any failure of the store means it does not answer)
            return False

    def retry_after(self) -> int:
        """Seconds until the breached limit frees up (asked before any work: a 429)."""
        current = self.current_limit
        try:
            return max(1, int(current.reset_at - time.time())) if current else \
                DEFAULT_RETRY_AFTER_SECONDS
        except Exception:  # noqa: BLE001 (the store failed meanwhile: a fixed delay)
            return DEFAULT_RETRY_AFTER_SECONDS


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
limiter = _Limiter(key_func=client_ip)
