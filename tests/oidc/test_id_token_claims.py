"""The ID token of a code redemption (OIDC Core 2, 3.1.3.6, 5.5): every claim, its value,
and the module's signing algorithm; nothing else in it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from authlib.oidc.core.util import create_half_hash
from flask import current_app
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy import update

from idp.clock import utcnow
from idp.extensions import db
from idp.models import HabilitationGrant
from idp.models import UserSession
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import refresh
from tests.security.oauth import register_module
from tests.security.oauth import tokens_for


@pytest.fixture
def user(make_user):
    return make_user(siret="12345678901234")


@pytest.fixture
def signed_in(client, user):
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def id_token_of(client, module, **params) -> tuple[dict, dict, dict]:
    """(header, claims, token response) of a whole code flow."""
    body = tokens_for(client, module, **params)
    keyset = KeySet.import_key_set(client.get("/jwks").get_json())
    decoded = jwt.decode(body["id_token"], keyset, algorithms=["RS256", "ES256"])
    return decoded.header, dict(decoded.claims), body


def test_the_id_token_holds_exactly_the_claims_of_the_flow(app, signed_in, user):
    module = register_module()
    db.session.expire_all()
    session = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id)).scalar_one()
    at = utcnow().replace(microsecond=0) + timedelta(seconds=5)
    with time_machine.travel(at, tick=False):
        header, claims, body = id_token_of(signed_in, module, nonce="n-7")
    assert header["alg"] == "RS256"
    assert header["kid"]
    iat = int(at.timestamp())
    assert claims == {
        "iss": current_app.config["IDP_ISSUER"], "aud": module.client_id, "sub": user.subject,
        "iat": iat, "exp": iat + 600, "nonce": "n-7",
        "auth_time": int(session.auth_time.timestamp()), "acr": "eidas1", "amr": ["pwd"],
        "sid": session.sid,
        "at_hash": create_half_hash(body["access_token"], "RS256").decode(),
    }


def test_claims_asked_for_the_id_token_are_in_it(app, signed_in, user):
    module = register_module()
    # A habilitation granted until a date: the claim lists it while it lasts.
    db.session.execute(update(HabilitationGrant).values(ends_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    _header, claims, _body = id_token_of(
        signed_in, module, nonce=None,
        claims='{"id_token": {"email": null, "siret": null, "habilitations": null}}')
    assert "nonce" not in claims
    assert claims["email"] == "jdupont@example.test"
    assert claims["siret"] == "12345678901234"
    assert claims["habilitations"] == [{"code": "bonuseco", "label": "Bonus Eco",
                                        "profile": ""}]
    assert claims["sub"] == user.subject


def test_habilitation_codes_are_flat_strings_with_the_profile(app, signed_in, user):
    """For modules that match strings (mod_auth_openidc's ``Require claim``): ``code``
    and ``code:profile``."""
    module = register_module()
    db.session.execute(update(HabilitationGrant).values(profile="concessionnaire"))
    db.session.commit()
    _header, claims, _body = id_token_of(
        signed_in, module, claims='{"id_token": {"habilitation_codes": null}}')
    assert claims["habilitation_codes"] == ["bonuseco", "bonuseco:concessionnaire"]


def test_a_refreshed_id_token_says_how_the_session_logged_in_and_the_codes_of_now(
        app, signed_in, user):
    """OIDC Core 12.2: the refreshed ID token keeps the session's methods (the password
    for a session opened before methods were recorded) and gives the claims asked for
    the ID token as they are at the refresh."""
    module = register_module()
    db.session.execute(update(HabilitationGrant).values(profile="concessionnaire"))
    db.session.commit()
    body = tokens_for(signed_in, module, claims='{"id_token": {"habilitation_codes": null}}')
    db.session.execute(update(UserSession).values(amr=[]))
    # Another profile since, granted until a date: the refresh reads the grant as it is.
    db.session.execute(update(HabilitationGrant).values(
        profile="loueur", ends_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    response = refresh(signed_in, module, body["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    keyset = KeySet.import_key_set(signed_in.get("/jwks").get_json())
    claims = jwt.decode(response.get_json()["id_token"], keyset, algorithms=["RS256"]).claims
    assert claims["amr"] == ["pwd"]
    assert claims["habilitation_codes"] == ["bonuseco", "bonuseco:loueur"]


def test_scope_claims_stay_at_userinfo(app, signed_in):
    """OIDC Core 5.4: with an access token, the scope's claims come from userinfo."""
    module = register_module()
    _header, claims, _body = id_token_of(signed_in, module, scope="openid email")
    assert "email" not in claims


def test_a_module_registered_for_es256_gets_es256_id_tokens(app, signed_in):
    module = register_module("module-ec", id_token_alg="ES256")
    header, claims, _body = id_token_of(signed_in, module)
    assert header["alg"] == "ES256"
    assert claims["aud"] == "module-ec"
