"""Settings of the Django example module: a Django project that delegates its login to the
BonusEco IdP with mozilla-django-oidc (see this package's docstring).

Everything that changes between machines comes from the environment:

| variable | default | meaning |
|---|---|---|
| ``DJANGO_MODULE_ISSUER`` | ``http://127.0.0.1:5000`` | the IdP's issuer (its base URL) |
| ``DJANGO_MODULE_CLIENT_ID`` | ``django-module`` | the module's client id at the IdP |
| ``DJANGO_MODULE_CLIENT_SECRET`` | none | its secret (``idp clients create`` prints it once) |
| ``DJANGO_MODULE_HABILITATION`` | ``bonuseco`` | ``code`` or ``code:profile`` it requires |
| ``DJANGO_MODULE_DATABASE`` | in the temporary folder | SQLite file of Django's own tables |
| ``DJANGO_MODULE_SECRET_KEY`` | random at each start | Django's signing key |
| ``DJANGO_MODULE_ALLOWED_HOSTS`` | ``127.0.0.1,localhost`` | Django's ``ALLOWED_HOSTS`` |
| ``DJANGO_MODULE_DEBUG`` | off | Django's ``DEBUG`` (``1`` turns it on) |
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

# --- the IdP and this module's registration there -------------------------------------

BONUSECO_ISSUER = os.environ.get("DJANGO_MODULE_ISSUER", "http://127.0.0.1:5000").rstrip("/")

# mozilla-django-oidc reads no discovery document: these are the endpoints that the IdP's
# /.well-known/openid-configuration lists (README.md, « The pages and the endpoints »).
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{BONUSECO_ISSUER}/authorize"
OIDC_OP_TOKEN_ENDPOINT = f"{BONUSECO_ISSUER}/token"
OIDC_OP_USER_ENDPOINT = f"{BONUSECO_ISSUER}/userinfo"
OIDC_OP_JWKS_ENDPOINT = f"{BONUSECO_ISSUER}/jwks"
# Not a mozilla-django-oidc setting: read by auth.end_session_url (RP-Initiated Logout 1.0).
OIDC_OP_END_SESSION_ENDPOINT = f"{BONUSECO_ISSUER}/end-session"

OIDC_RP_CLIENT_ID = os.environ.get("DJANGO_MODULE_CLIENT_ID", "django-module")
OIDC_RP_CLIENT_SECRET = os.environ.get("DJANGO_MODULE_CLIENT_SECRET", "")
# ID tokens are signed RS256 with the keys of the JWKS (ES256 for a module registered
# with --id-token-alg ES256: then say ES256 here).
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email profile habilitations"
# The IdP requires PKCE S256 from every client (RFC 7636); mozilla-django-oidc sends it
# only when asked.
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
# A module registered without --auth-method authenticates with client_secret_basic;
# mozilla-django-oidc posts the secret in the body (client_secret_post) unless told.
OIDC_TOKEN_USE_BASIC_AUTH = True
# Kept in the session for the id_token_hint of the logout (auth.end_session_url).
OIDC_STORE_ID_TOKEN = True
OIDC_OP_LOGOUT_URL_METHOD = "examples.django_module.auth.end_session_url"
# Seconds for each call to the IdP (token, userinfo, JWKS); without it requests waits forever.
OIDC_TIMEOUT = 10

# The habilitation_codes entry a person needs here (the IdP already refuses a person
# without the module's habilitation; a profile such as bonuseco:gestionnaire is the
# module's own rule).
BONUSECO_REQUIRED_HABILITATION = os.environ.get("DJANGO_MODULE_HABILITATION", "bonuseco")

AUTHENTICATION_BACKENDS = ["examples.django_module.auth.BonusEcoBackend"]
LOGIN_URL = "oidc_authentication_init"
LOGIN_REDIRECT_URL = "/"
# A path: mozilla-django-oidc does not resolve this one as a URL name.
LOGIN_REDIRECT_URL_FAILURE = "/refused/"
# Also the post_logout_redirect_uri registered at the IdP.
LOGOUT_REDIRECT_URL = "/logged-out/"

# --- Django ---------------------------------------------------------------------------

SECRET_KEY = os.environ.get("DJANGO_MODULE_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = os.environ.get("DJANGO_MODULE_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_MODULE_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
    "examples.django_module",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "examples.django_module.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                       "django.contrib.auth.context_processors.auth"]},
}]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_MODULE_DATABASE")
        or Path(tempfile.gettempdir()) / "bonuseco-django-module.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cookies ignore ports: on 127.0.0.1 beside the IdP and the other modules, names of its own.
SESSION_COOKIE_NAME = "django_module_session"
CSRF_COOKIE_NAME = "django_module_csrftoken"

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = "Europe/Paris"
USE_TZ = True
