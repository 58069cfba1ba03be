"""Prometheus metrics at ``/metrics`` (docs/deployment.md, « Health, logs and metrics »).

Security events are counted where they already all go through: ``idp.audit.record``
calls ``count_event`` with the event name, and ``EVENT_COUNTERS`` below is the one
table from audit event to counter. A count joins the transaction's ``Counts``
batch and is applied only once it commits (``idp.database.after_commit``), so a
rolled-back request counts nothing (the audit row it would have written is gone
too).

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``gunicorn.conf.py``) makes
prometheus_client keep each worker's values in files that a scrape adds up, so any
worker answers for all of them.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import g
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from idp import database
from idp.clock import utcnow
from idp.database import after_commit
from idp.extensions import client_ip
from idp.extensions import db
from idp.extensions import limiter
from idp.models.audit import unsealed_tail
from idp.settings import settings

log = logging.getLogger(__name__)

LOGINS = Counter("idp_logins", "Password logins by outcome.", ["outcome"])
LOCKS = Counter("idp_account_locks", "Accounts (or unknown identifiers) locked.")
PASSWORD_CHANGES = Counter("idp_password_changes", "Passwords changed by their owner.")
RESETS = Counter("idp_password_resets", "Password reset steps.", ["step"])
TOKENS = Counter("idp_tokens_issued", "Token responses by grant type.", ["grant"])
LATENCY = Histogram(
    "idp_request_duration_seconds", "Request latency by Flask endpoint.", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDIT_SEALED = Counter("idp_audit_sealed_events", "Audit rows chained by the sealer.")
# Error rates (5xx, the token endpoint's refusals) for alerting (docs/monitoring/).
RESPONSES = Counter("idp_responses", "Answers by Flask endpoint and HTTP status.",
                    ["endpoint", "status"])

# audit event -> (counter, function of the event's details giving the labels)
EVENT_COUNTERS = {
    "login.success": (LOGINS, lambda d: {"outcome": "success"}),
    "login.failure": (LOGINS, lambda d: {"outcome": d.get("reason", "failure")}),
    "account.locked": (LOCKS, lambda d: {}),
    "password.changed": (PASSWORD_CHANGES, lambda d: {}),
    "reset.asked": (RESETS, lambda d: {"step": "asked"}),
    "reset.answer_wrong": (RESETS, lambda d: {"step": "answer_wrong"}),
    "reset.blocked": (RESETS, lambda d: {"step": "blocked"}),
    "password.reset_sent": (RESETS, lambda d: {"step": "sent_by_assistance"}),
    "password.provisional_used": (RESETS, lambda d: {"step": "provisional_used"}),
    "token.issued": (TOKENS, lambda d: {"grant": str(d.get("grant") or "unknown")}),
}


class Counts(list):
    """(audit event, details) of a transaction, counted once it is committed."""

    def __call__(self) -> None:
        for name, details in self:
            counter, labels = EVENT_COUNTERS[name]
            values = labels(details)
            (counter.labels(**values) if values else counter).inc()


def count_event(name: str, details: dict) -> None:
    """Count an audit event once its transaction commits (nothing if rolled back)."""
    if name in EVENT_COUNTERS:
        after_commit(Counts).append((name, details))


def _start_timer() -> None:
    g.metrics_started_at = time.perf_counter()


def observe(endpoint: str, started: float) -> None:
    # Endpoint names, never paths: a label per URL would grow without bound.
    LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)


def _observe(response):
    """After the view, when the work may be committed: a failure here (the metrics
    files on a full disk) is logged, never the answer's (docs/deployment.md, « Redis »)."""
    started = g.pop("metrics_started_at", None)
    if started is not None:
        try:
            endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
            observe(endpoint, started)
            RESPONSES.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        except Exception as exc:  # noqa: BLE001 (the answer is decided: log, go on)
            log.warning("request latency not observed: %s", type(exc).__name__)
    return response


def is_allowed() -> bool:
    """From a configured network, or with the configured bearer token."""
    token = settings().metrics_token
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip())
    except ValueError:
        return False
    return any(address in network for network in settings().metrics_allowed_networks)


class Dependencies:
    """``idp_dependency_up``, measured when scraped by the process that answers.

    The rate-limit store (Redis) is shared by every host: it is watched here and
    in ``/healthz?details``, not in readiness (docs/deployment.md).
    """

    def collect(self):
        gauge = GaugeMetricFamily("idp_dependency_up",
                                  "Whether a dependency answers this process (1) or not (0).",
                                  labels=["dependency"])
        gauge.add_metric(["database"], float(database.answers()))
        gauge.add_metric(["ratelimit"], float(limiter.store_answers()))
        yield gauge


class AuditSealing:
    """The audit rows the sealer has not chained yet (idp.audit.seal), measured when
    scraped: ``idp_audit_unsealed_events`` and ``idp_audit_oldest_unsealed_seconds``
    (0 when none waits). Absent while the database does not answer
    (``idp_dependency_up`` says so)."""

    def collect(self):
        try:
            count, oldest = unsealed_tail(db.session)
        except SQLAlchemyError:
            return
        finally:
            database.rollback()
        age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily("idp_audit_unsealed_events",
                                "Audit rows written but not chained yet.", value=count)
        yield GaugeMetricFamily("idp_audit_oldest_unsealed_seconds",
                                "Age of the oldest audit row not chained yet (0: none).",
                                value=age)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition, for allowed networks or the bearer token only."""
    if not is_allowed():
        abort(404)  # not advertised to those who may not read it
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    measured_now = CollectorRegistry()
    measured_now.register(Dependencies())
    measured_now.register(AuditSealing())
    return Response(generate_latest(registry) + generate_latest(measured_now),
                    mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
