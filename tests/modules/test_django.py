"""A Django module on mozilla-django-oidc (examples/django_module/) against the live IdP.

The module is served by a WSGI server in a thread on a free loopback port, registered at
the IdP, and a person drives both with one cookie jar: log in through the module, a
person the module itself refuses, and the logout that ends the IdP session too.

Django's settings are process-wide and ``django.setup()`` runs once a process: the
``django_app`` fixture loads the module's settings once for the whole test session
(``DJANGO_SETTINGS_MODULE`` set only while it does, so that no later subprocess
inherits it), and each test points them at its own IdP with ``override_settings``.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import update

from idp.models import HabilitationGrant
from idp.models import UserSession
from tests.conftest import Browser
from tests.conftest import LiveServer
from tests.conftest import short_transaction
from tests.oidc.conftest import NONCE
from tests.oidc.conftest import log_in_and_get_tokens

SETTINGS = "examples.django_module.settings"
# Settings holding an IdP URL, as settings.py writes them from DJANGO_MODULE_ISSUER.
IDP_URL_SETTINGS = ("BONUSECO_ISSUER", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT",
                    "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT",
                    "OIDC_OP_END_SESSION_ENDPOINT")


ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="session")
def django_app(tmp_path_factory):
    """The module's WSGI application, its tables in a SQLite file of the session."""
    import django.conf

    database = str(tmp_path_factory.mktemp("django-module") / "django.sqlite3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SETTINGS_MODULE", SETTINGS)
        patch.setenv("DJANGO_MODULE_DATABASE", database)
        patch.setenv(ASYNC_UNSAFE, "1")
        from examples.django_module.wsgi import application  # django.setup(), once

        assert django.conf.settings.SETTINGS_MODULE == SETTINGS, \
            "Django set up by another module"
        from django.core.management import call_command
        from django.db import connections

        # A second test session in the same process (mutmut runs pytest several times)
        # finds Django set up on the first one's file, deleted since: use this one's.
        connections.close_all()
        connections["default"].settings_dict["NAME"] = database

        call_command("migrate", verbosity=0)
    return application


@pytest.fixture(autouse=True)
def _sync_django_beside_playwright(monkeypatch):
    """Playwright's sync API (the browser tests of this session) keeps an asyncio loop
    running in the main thread; Django then refuses its ORM there, thinking it is in a
    coroutine. The test's own Django calls are plain synchronous code: say so."""
    monkeypatch.setenv(ASYNC_UNSAFE, "1")


@pytest.fixture
def django_module(django_app, live_server, make_module):
    """The module on its own port, registered at the live IdP and configured for it."""
    from django.core.management import call_command
    from django.test import override_settings

    call_command("flush", interactive=False, verbosity=0)  # the users of earlier tests
    server = LiveServer(django_app)
    registered = make_module(
        "django-module", redirect_uris=[f"{server.url}/oidc/callback/"],
        post_logout_redirect_uris=[f"{server.url}/logged-out/"],
        habilitation="bonuseco", skip_consent=True)
    from django.conf import settings

    pointed = {name: getattr(settings, name).replace(settings.BONUSECO_ISSUER,
                                                    live_server.url, 1)
               for name in IDP_URL_SETTINGS}
    with override_settings(**pointed, OIDC_RP_CLIENT_ID=registered.client_id,
                           OIDC_RP_CLIENT_SECRET=registered.secret):
        server.start()
        yield server
        server.stop()


@pytest.fixture
def person(make_user):
    """``jdupont``, holding bonuseco with the profile « concessionnaire »."""
    user = make_user()
    with short_transaction() as session:
        session.execute(update(HabilitationGrant).values(profile="concessionnaire"))
    return user


def follow(browser: Browser, response: requests.Response,
           visited: list[str]) -> requests.Response:
    """Follow redirects across the module and the IdP (``Browser.open`` stops at the first
    one leaving the IdP), noting each URL in ``visited``."""
    while response.status_code in (301, 302, 303):
        url = urljoin(response.url, response.headers["Location"])
        visited.append(url)
        response = browser.send("GET", url)
    return response


def visit(browser: Browser, url: str, visited: list[str] | None = None,
          login: str | None = None) -> requests.Response:
    """GET ``url`` and follow; on the IdP's login form, log in as ``login``."""
    visited = [] if visited is None else visited
    page = follow(browser, browser.send("GET", url), visited)
    if login and 'name="password"' in page.text:
        page = follow(browser, browser.post_login(page, login), visited)
    return page


def query_of(visited: list[str], prefix: str) -> dict:
    """The query of the first visited URL that starts with ``prefix``."""
    url = next(u for u in visited if u.startswith(prefix))
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def shown(page: requests.Response, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(td|ul|p)>', page.text, re.S)
    assert found, f"no #{element_id} in {page.url}: {page.text[:300]}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def django_session(browser: Browser) -> dict:
    """The module's server-side session of this browser ({} when it has none)."""
    from django.conf import settings
    from django.contrib.sessions.models import Session

    key = browser.http.cookies.get(settings.SESSION_COOKIE_NAME)
    row = Session.objects.filter(session_key=key).first() if key else None
    return row.get_decoded() if row else {}


def test_logging_in_through_django_shows_the_user_and_habilitations(
        live_server, django_module, person):
    from django.contrib.auth import get_user_model

    browser = Browser(live_server.url)
    visited: list[str] = []
    page = visit(browser, django_module.url + "/", visited, login="jdupont")

    assert page.status_code == 200
    assert page.url == django_module.url + "/"
    authorization = query_of(visited, live_server.url + "/authorize")
    assert authorization["code_challenge_method"] == "S256"
    assert len(authorization["code_challenge"]) == 43
    assert authorization["scope"] == "openid email profile habilitations"
    assert authorization["redirect_uri"] == django_module.url + "/oidc/callback/"
    assert authorization["nonce"]
    subject = person.subject
    assert shown(page, "sub") == subject
    assert shown(page, "email") == "jdupont@example.test"
    assert shown(page, "habilitation-codes") == "bonuseco bonuseco:concessionnaire"
    # Django's own session, and its user keyed on the IdP's sub.
    users = get_user_model().objects.all()
    assert [(u.username, u.email, u.first_name, u.last_name) for u in users] == [
        (subject, "jdupont@example.test", "Jean", "Dupont")]
    assert django_session(browser)["_auth_user_id"] == str(users[0].pk)

    # A new email at the IdP is the same person here: the next login updates the user.
    with short_transaction():
        person.email = "jean.dupont@example.test"
    from django.conf import settings

    browser.http.cookies.set(settings.SESSION_COOKIE_NAME, None)  # out of the module only
    page = visit(browser, django_module.url + "/")  # the IdP's SSO session: no form
    assert shown(page, "email") == "jean.dupont@example.test"
    assert [(u.pk, u.email) for u in get_user_model().objects.all()] == [
        (users[0].pk, "jean.dupont@example.test")]


def test_the_module_refuses_a_person_without_the_habilitation_it_requires(
        live_server, django_module, person):
    """The IdP lets through anyone holding bonuseco; this module asks for the profile
    « gestionnaire », which jdupont, a « concessionnaire », lacks."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    browser = Browser(live_server.url)
    visited: list[str] = []
    with override_settings(BONUSECO_REQUIRED_HABILITATION="bonuseco:gestionnaire"):
        page = visit(browser, django_module.url + "/", visited, login="jdupont")

    # The IdP issued a code: the refusal is the module's.
    assert query_of(visited, django_module.url + "/oidc/callback/")["code"]
    assert page.status_code == 403
    assert page.url == django_module.url + "/refused/"
    assert shown(page, "message") == ("Vous n'avez pas les autorisations requises pour vous"
                                      " connecter sur cette application.")
    assert "_auth_user_id" not in django_session(browser)
    assert not get_user_model().objects.exists()


def test_logout_ends_the_django_session_and_the_idp_session(
        live_server, django_module, person):
    browser = Browser(live_server.url)
    page = visit(browser, django_module.url + "/", login="jdupont")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    visited: list[str] = []
    response = browser.send("POST", django_module.url + "/oidc/logout/",
                            data={"csrfmiddlewaretoken": token})
    page = follow(browser, response, visited)

    end_session = query_of(visited, live_server.url + "/end-session")
    assert end_session["client_id"] == "django-module"
    assert end_session["post_logout_redirect_uri"] == django_module.url + "/logged-out/"
    assert end_session["id_token_hint"].count(".") == 2
    assert page.status_code == 200
    assert page.url == django_module.url + "/logged-out/"
    assert shown(page, "message") == "Vous êtes déconnecté du module et de BonusEco."
    assert "_auth_user_id" not in django_session(browser)
    with short_transaction() as session:
        ended = session.execute(select(UserSession.ended_at)).scalars().all()
    assert len(ended) == 1
    assert ended[0] is not None
    # Back to the module: the IdP asks for the password again.
    page = visit(browser, django_module.url + "/")
    assert page.url.startswith(live_server.url + "/login")
    assert 'name="password"' in page.text


def test_the_backend_checks_the_audience_and_issuer_that_the_library_leaves(
        live_server, django_module, make_module, person):
    """An ID token the IdP signed for another module passes mozilla-django-oidc's own
    checks (signature, expiry, nonce); the module's backend refuses it."""
    from django.core.exceptions import SuspiciousOperation
    from django.test import override_settings
    from mozilla_django_oidc.auth import OIDCAuthenticationBackend

    from examples.django_module.auth import BonusEcoBackend

    id_token = log_in_and_get_tokens(Browser(live_server.url), make_module("module-a"))["id_token"]

    assert OIDCAuthenticationBackend().verify_token(id_token, nonce=NONCE)["aud"] == "module-a"
    with pytest.raises(SuspiciousOperation, match="ID token for another client"):
        BonusEcoBackend().verify_token(id_token, nonce=NONCE)
    with override_settings(OIDC_RP_CLIENT_ID="module-a"):
        assert BonusEcoBackend().verify_token(id_token, nonce=NONCE)["sub"] == person.subject
        with override_settings(BONUSECO_ISSUER="https://idp.example.fr"), \
                pytest.raises(SuspiciousOperation, match="ID token from another issuer"):
            BonusEcoBackend().verify_token(id_token, nonce=NONCE)
