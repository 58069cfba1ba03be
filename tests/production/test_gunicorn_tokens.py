"""Code redemption and refresh rotation on 4 gunicorn workers (TOK-07, RT-04)."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models import Token
from idp.oidc.tokens import refresh_hash
from tests.conftest import STRONG_PASSWORD
from tests.conftest import short_transaction
from tests.production.flows import get_code
from tests.production.flows import redeem
from tests.production.flows import refresh
from tests.production.flows import sign_in
from tests.security.concurrency import run_concurrently

CONCURRENT = 20
RUNS = 10


def outcomes(responses) -> tuple[int, set[str]]:
    """How many token responses, and the errors of all the others."""
    winners = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.headers.get("Content-Type", "").startswith("application/json")
               for r in refused), [(r.status_code, r.text[:2000]) for r in refused]
    errors = {r.json().get("error") for r in refused}
    return len(winners), errors


def test_twenty_concurrent_redemptions_of_a_code_give_one_token_response(
        gunicorn_server, make_user, make_module):
    make_user("redeemer")
    module = make_module()
    browser = sign_in(gunicorn_server.url, "redeemer", STRONG_PASSWORD)
    for _ in range(RUNS):
        code, verifier = get_code(gunicorn_server.url, browser, module)
        responses = run_concurrently(
            CONCURRENT, lambda i, c=code, v=verifier: redeem(gunicorn_server.url, module, c, v))
        winners, errors = outcomes(responses)
        assert (winners, errors) == (1, {"invalid_grant"})


def test_twenty_concurrent_refreshes_rotate_a_refresh_token_once(
        gunicorn_server, make_user, make_module):
    make_user("refresher")
    module = make_module()
    browser = sign_in(gunicorn_server.url, "refresher", STRONG_PASSWORD)
    for _ in range(RUNS):
        code, verifier = get_code(gunicorn_server.url, browser, module)
        tokens = redeem(gunicorn_server.url, module, code, verifier).json()
        presented = tokens["refresh_token"]
        responses = run_concurrently(
            CONCURRENT, lambda i, t=presented: refresh(gunicorn_server.url, module, t))
        winners, errors = outcomes(responses)
        assert (winners, errors) == (1, {"invalid_grant"})
        parent = select(Token.id).where(Token.refresh_hash == refresh_hash(presented))
        with short_transaction():
            children = db.session.execute(select(func.count()).select_from(Token).where(
                Token.parent_id == parent.scalar_subquery())).scalar_one()
        assert children == 1  # one rotation: never two live token families
