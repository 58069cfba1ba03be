"""The device cookie in the browser: read at the login, renewed at each successful login."""

from __future__ import annotations

from flask import request

from idp.extensions import request_cache
from idp.security import devices
from idp.security.identifiers import normalise_login
from idp.settings import settings


def cookie_name() -> str:
    """``__Host-`` needs Secure: plain HTTP on loopback in development cannot use it."""
    return "__Host-idp_device" if settings().secure_cookies else "idp_device"


def cookie_options() -> dict:
    return {
        "max_age": int(devices.LIFETIME.total_seconds()),
        "secure": bool(settings().secure_cookies),
        "httponly": True,
        "samesite": "Lax",
        "path": "/",
    }


def trusted_nonce(identifier: str | None) -> str | None:
    """The nonce of this browser's device cookie when it vouches for ``identifier``."""
    login = normalise_login(identifier or "")
    cache = request_cache("device")
    if login not in cache:
        cache[login] = devices.nonce_for(request.cookies.get(cookie_name()), login)
    return cache[login]


def remember(response, login: str):
    """Set a new device cookie for ``login`` on ``response`` (after a successful login)."""
    response.set_cookie(cookie_name(), devices.issue(login), **cookie_options())
    return response
