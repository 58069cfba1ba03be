"""Signing keys: `idp keys rotate` / `idp keys list`; old tokens still verify after rotation."""

from __future__ import annotations

from joserfc import jws

from idp.extensions import db
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import rp_session
from tests.oidc.conftest import verify_id_token


def _kid(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def test_rotation_keeps_old_tokens_verifiable_and_signs_new_ones(
        live_server, browser, module, make_user, app):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    old = rp.fetch_token(live_server.url + "/token", code=params["code"], code_verifier=verifier)

    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    listing = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert "active" in listing
    assert "retirée, publiée" in listing
    db.session.rollback()  # end the CLI's read transaction: SQLite would block the server

    params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce="after")
    new = rp.fetch_token(live_server.url + "/token", code=params["code"], code_verifier=verifier)
    assert _kid(new["id_token"]) != _kid(old["id_token"])
    assert _kid(new["access_token"]) == _kid(new["id_token"])
    verify_id_token(live_server.url, old["id_token"], module.client_id, "n-0S6_WzA2Mj")
    verify_id_token(live_server.url, new["id_token"], module.client_id, "after")


def test_es256_client_gets_es256_id_tokens(live_server, browser, make_module, make_user):
    make_user()
    module = make_module("module-es", id_token_alg="ES256")
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    token = rp.fetch_token(live_server.url + "/token", code=params["code"], code_verifier=verifier)
    claims = verify_id_token(live_server.url, token["id_token"], module.client_id,
                             "n-0S6_WzA2Mj", token["access_token"])
    assert claims["header"]["alg"] == "ES256"


def test_rotate_refuses_an_unknown_algorithm(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--alg", "HS256"])
    assert result.exit_code == 2
