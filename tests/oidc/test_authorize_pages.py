"""What the person sees at the authorization endpoint: the consent page and the refusal page.

The consent page names the module and lists, in French, what it will receive
(scope and ``claims`` request); its answer is posted to the same request. A
refusal is audited and goes back with access_denied. SPEC 1.4: without the
habilitation, the verbatim page, an audit row and a way back to the module.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from idp.extensions import db
from idp.models import AuthorizationCode
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.oidc.conftest import CALLBACK
from tests.oidc.test_authorize import _url

CLAIMS = json.dumps({"userinfo": {"siret": None}, "id_token": {"email": None}})


def _codes() -> int:
    count = db.session.execute(db.select(db.func.count()).select_from(AuthorizationCode))
    return count.scalar_one()


def _back_query(location: str) -> dict[str, list[str]]:
    assert location.startswith(CALLBACK + "?"), location
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def _consent_page(client, make_module, make_user, **params):
    user = make_user()
    make_module("third-party", skip_consent=False)
    login(client, "jdupont", STRONG_PASSWORD)
    url = _url(client_id="third-party", **params)
    page = client.get(url)
    assert page.status_code == 200
    return user, url, page


def test_the_consent_page_names_the_module_and_lists_scope_and_claims(
        client, make_module, make_user):
    _user, url, page = _consent_page(client, make_module, make_user, claims=CLAIMS)
    text = page_text(page)
    assert "Module third-party demande l'accès à vos informations" in text
    assert "l'application « Module third-party » à recevoir" in text
    listed = re.search(r'<ul id="consent-items">(.*?)</ul>', text, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", listed) == [
        "Votre identifiant technique, stable et anonyme",  # openid
        "Votre prénom", "Votre nom", "Votre nom complet",  # profile
        "Le SIRET de votre établissement",  # claims, userinfo
        "Votre adresse électronique",  # claims, id_token
    ]
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)
                           .group(1))
    assert action == url.replace("/authorize?", "/authorize/consent?")
    assert _codes() == 0


def test_refusing_consent_is_audited_and_goes_back_with_access_denied(
        client, make_module, make_user, audit_rows):
    user, url, page = _consent_page(client, make_module, make_user)
    action = url.replace("/authorize?", "/authorize/consent?")
    refused = client.post(action, data={"csrf_token": csrf_token(page.text), "decision": "deny"})
    assert refused.status_code == 302
    assert _back_query(refused.headers["Location"]) == {
        "error": ["access_denied"], "state": ["xyz"],
        "error_description": ["The resource owner or authorization server denied the request"],
        "iss": [client.application.config["IDP_ISSUER"]],
    }
    assert _codes() == 0
    rows = audit_rows("authorize.consent_refused")
    assert [(r.outcome, r.login, r.user_id, r.client_id, r.details) for r in rows] == [
        ("failure", "jdupont", user.id, "third-party", {})]


def test_allowing_consent_gives_a_code_and_audits_no_refusal(
        client, make_module, make_user, audit_rows):
    _user, url, page = _consent_page(client, make_module, make_user)
    action = url.replace("/authorize?", "/authorize/consent?")
    allowed = client.post(action, data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    query = _back_query(allowed.headers["Location"])
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == ["xyz"]
    assert _codes() == 1
    assert audit_rows("authorize.consent_refused") == []


def test_without_habilitation_the_page_names_the_module_and_the_refusal_is_audited(
        client, make_module, make_user, audit_rows):
    user = make_user(habilitations=())
    make_module("module-a")
    login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url())
    assert response.status_code == 403
    text = page_text(response)
    assert "Retour à l'application Module module-a</a>" in text
    rows = audit_rows("habilitation.refused")
    assert [(r.outcome, r.login, r.user_id, r.client_id, r.details) for r in rows] == [
        ("failure", "jdupont", user.id, "module-a",
         {"habilitation": "bonuseco", "stage": "authorize"})]
    assert _codes() == 0
