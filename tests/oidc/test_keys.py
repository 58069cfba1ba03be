"""Signing keys: `idp keys rotate` / `idp keys list`; old tokens still verify after rotation."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import time_machine
from joserfc import jws

from idp import create_app
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import db
from idp.oidc import keys
from tests.conftest import TEST_OVERRIDES
from tests.conftest import short_transaction
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session
from tests.oidc.conftest import verify_id_token


def _kid(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def test_rotation_keeps_old_tokens_verifiable_and_signs_new_ones(
        live_server, browser, module, make_user, app):
    make_user()
    rp = rp_session(live_server.url, module)
    old = log_in_and_get_tokens(browser, rp)

    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    listing = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert "active" in listing
    assert "retirée, publiée" in listing

    # The new key signs once every process has had time to publish it.
    settled = utcnow() + timedelta(seconds=app.config["IDP_KEYS_REFRESH_SECONDS"] + 1)
    with time_machine.travel(settled, tick=True):
        new = log_in_and_get_tokens(browser, rp, nonce="after")
        assert _kid(new["id_token"]) != _kid(old["id_token"])
        assert _kid(new["access_token"]) == _kid(new["id_token"])
        verify_id_token(live_server.url, old["id_token"], module.client_id, "n-0S6_WzA2Mj")
        verify_id_token(live_server.url, new["id_token"], module.client_id, "after")


def test_es256_client_gets_es256_id_tokens(live_server, browser, make_module, make_user):
    make_user()
    module = make_module("module-es", id_token_alg="ES256")
    token = log_in_and_get_tokens(browser, module)
    claims = verify_id_token(live_server.url, token["id_token"], module.client_id,
                             "n-0S6_WzA2Mj", token["access_token"])
    assert claims["header"]["alg"] == "ES256"


def test_rotate_refuses_an_unknown_algorithm(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--alg", "HS256"])
    assert result.exit_code == 2


# --- several processes: each keeps the keys IDP_KEYS_REFRESH_SECONDS -------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _jwks_kids(client) -> set[str]:
    return {key["kid"] for key in client.get("/jwks").json["keys"]}


def test_a_rotated_in_key_signs_only_once_every_process_publishes_it(app, app_environ):
    """Two workers on one database: the one that did not rotate serves its cached JWKS
    for up to IDP_KEYS_REFRESH_SECONDS, so nobody signs with the new key before that."""
    other = create_app(dict(TEST_OVERRIDES), environ=app_environ)  # a second worker
    period = timedelta(seconds=app.config["IDP_KEYS_REFRESH_SECONDS"])
    assert period.total_seconds() > 0
    with time_machine.travel(T0, tick=False) as clock:
        [first] = _jwks_kids(app.test_client())  # created on first need
        clock.move_to(T0 + timedelta(minutes=1))
        assert _jwks_kids(other.test_client()) == {first}
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        [second] = _jwks_kids(app.test_client()) - {first}

        clock.move_to(T0 + timedelta(minutes=1) + period / 2)
        assert _jwks_kids(other.test_client()) == {first}  # still its copy
        with short_transaction():  # the other worker reads next
            assert keys.signing_record("RS256", utcnow()).kid == first  # the retired one signs
        with other.app_context():
            assert keys.signing_record("RS256", utcnow()).kid == first

        clock.move_to(T0 + timedelta(minutes=1) + period + timedelta(seconds=1))
        assert _jwks_kids(other.test_client()) == {first, second}
        assert keys.signing_record("RS256", utcnow()).kid == second
        with other.app_context():
            assert keys.signing_record("RS256", utcnow()).kid == second
            db.session.remove()
            db.engine.dispose()


def test_a_kid_not_seen_yet_makes_a_process_read_the_keys_again(app, app_environ):
    """At most once a second: made-up kids must not cost a query each."""
    other = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    with time_machine.travel(T0, tick=False) as clock:
        old = keys.signing_record("ES256", utcnow())
        commit()
        with other.app_context():
            assert [r.kid for r in keys.published(utcnow())] == [old.kid]
        new_kid = keys.rotate("ES256", utcnow())[0].kid  # by the first worker
        commit()
        with other.app_context():
            # Read just now: the unknown kid waits for the next second.
            assert {k.kid for k in keys.verification_keyset(utcnow(), new_kid).keys} \
                == {old.kid}
            clock.move_to(T0 + keys.UNKNOWN_KID_REREAD)
            verifying = keys.verification_keyset(utcnow(), new_kid)
            assert {key.kid for key in verifying.keys} == {old.kid, new_kid}
            db.session.remove()
            db.engine.dispose()


def test_without_a_refresh_period_keys_are_read_at_every_use(app_environ):
    app_environ["IDP_KEYS_REFRESH_SECONDS"] = "0"
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    with app.app_context(), time_machine.travel(T0, tick=False):
        old = keys.signing_record("RS256", utcnow())
        commit()
        new_kid = keys.rotate("RS256", utcnow())[0].kid
        commit()
        assert keys.signing_record("RS256", utcnow()).kid == new_kid != old.kid
        db.session.remove()
        db.engine.dispose()
