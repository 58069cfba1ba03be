"""Error pages in French for people (never a traceback, never a secret)."""

from __future__ import annotations

import logging
import secrets

from flask import Flask
from flask import render_template
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from idp.database import rollback
from idp.exceptions import IdpError
from idp.extensions import limiter

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Requête invalide",
          "La demande n'a pas pu être traitée. Revenez à la page précédente et réessayez."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page."),
    404: ("Page introuvable", "La page que vous cherchez n'existe pas ou a été déplacée."),
    405: ("Méthode non autorisée", "Cette page ne s'utilise pas ainsi."),
    413: ("Requête trop volumineuse", "Les données envoyées sont trop volumineuses."),
    414: ("Adresse trop longue", "L'adresse demandée est trop longue."),
    429: ("Trop de tentatives",
          "Vous avez fait trop de demandes en peu de temps. Patientez quelques minutes avant "
          "de réessayer."),
    431: ("Requête invalide", "Les en-têtes de la requête sont trop volumineux."),
    500: ("Erreur du service", "Une erreur inattendue s'est produite. Réessayez dans quelques "
          "instants ; si le problème persiste, appelez l'Assistance en donnant la référence "
          "ci-dessous."),
    503: ("Service indisponible", "Le service est momentanément indisponible. Réessayez dans "
          "quelques instants."),
}
MSG_CSRF = ("Le formulaire a expiré ou n'a pas été envoyé depuis cette page. Rechargez la page "
            "et recommencez.")


def render_error(status: int, message: str | None = None, reference: str | None = None):
    title, default = MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    return render_template(
        "errors/error.html", status=status, title=title, message=message or default,
        reference=reference,
    ), status


def _http_error(error: HTTPException):
    rollback()
    response = render_error(error.code or 500)
    if error.code == 405 and error.valid_methods:
        return response[0], 405, {"Allow": ", ".join(error.valid_methods)}
    if isinstance(error, RateLimitExceeded):
        return response[0], 429, {"Retry-After": str(limiter.retry_after())}
    return response


def _csrf_error(error: CSRFError):
    rollback()
    return render_error(400, MSG_CSRF)


def _unexpected(error: Exception):
    """Roll back, log with a correlation id, show the French 500 page (no detail)."""
    rollback()
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return _http_error(error)
    original = getattr(error, "original_exception", None) or error
    reference = secrets.token_hex(6)
    log.error("unexpected error %s: %s", reference, type(original).__name__,
              exc_info=(type(original), original, original.__traceback__))
    return render_error(500, reference=reference)


# A dependency that does not answer: the database (connection lost, refused, pool
# exhausted) or the rate-limit store. The request fails closed: nothing
# was committed, no limit was skipped, and the pool reconnects by itself once the
# dependency is back (pool_pre_ping), so the next request may succeed.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, RedisConnectionError,
               RedisTimeoutError, StorageError)
RETRY_AFTER_SECONDS = 5


def _unavailable(error: Exception):
    """French 503 page; the log says which dependency, never the statement or its values."""
    rollback()
    log.error("dependency unavailable: %s", type(error).__name__)
    page, status = render_error(503)
    return page, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _refused(error: IdpError):
    """A refusal no view showed on its own form: the French page with its status."""
    rollback()
    return render_error(error.status, str(error))


def init_app(app: Flask) -> None:
    for error_class in UNAVAILABLE:
        app.register_error_handler(error_class, _unavailable)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(IdpError, _refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
