"""The habilitation check (SPEC 1.4): verbatim page, way back with access_denied, rechecks."""

from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from sqlalchemy import update

from idp.clock import utcnow
from idp.extensions import db
from idp.models import HabilitationGrant
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session
from tests.oidc.test_authorize import _url

MESSAGE = "Vous n'avez pas les autorisations requises pour vous connecter sur cette application"


def _set_grants(**values) -> None:
    db.session.execute(update(HabilitationGrant).values(**values))
    db.session.commit()


def test_user_without_habilitation_gets_the_verbatim_page_and_a_way_back(
        client, make_module, make_user, audit_rows):
    make_user(habilitations=())
    make_module("module-a")
    login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url())
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 403
    assert MESSAGE in text
    back = text.split('id="back-to-client" href="')[1].split('"')[0]
    assert back.startswith(CALLBACK + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert query["error"] == "access_denied"
    assert query["state"] == "xyz"
    assert query["iss"] == client.application.config["IDP_ISSUER"]
    assert "code" not in query
    row = audit_rows("habilitation.refused")[-1]
    assert row.client_id == "module-a"
    assert row.details["stage"] == "authorize"


def test_habilitation_ended_in_the_past_is_refused(client, make_module, make_user):
    make_user()
    make_module("module-a")
    _set_grants(ends_at=utcnow() - timedelta(days=1))
    login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url())
    assert response.status_code == 403
    assert MESSAGE in html.unescape(response.get_data(as_text=True))


def test_prompt_none_without_habilitation_is_access_denied(client, make_module, make_user):
    make_user(habilitations=())
    make_module("module-a")
    login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url(prompt="none"))
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["access_denied"]


def test_habilitation_is_rechecked_at_token_and_refresh_time(
        live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    token = log_in_and_get_tokens(browser, rp)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce="second")
    _set_grants(revoked_at=utcnow())
    redeem = requests.post(live_server.url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
        "code_verifier": verifier}, auth=(module.client_id, module.secret), timeout=10)
    assert redeem.json()["error"] == "invalid_grant"
    refresh = requests.post(live_server.url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(module.client_id, module.secret), timeout=10)
    assert refresh.json()["error"] == "invalid_grant"
