"""A module's API verifying access tokens offline (examples/offline_verification): what it
accepts and refuses, and a key rotation as the module sees it."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
import time_machine
from joserfc import jwt

from examples.offline_verification import MIN_REFETCH_SECONDS
from examples.offline_verification import AccessTokenVerifier
from examples.offline_verification import InvalidAccessToken
from idp.clock import utcnow
from tests.oidc.conftest import jwks
from tests.oidc.conftest import log_in_and_get_tokens


def _with_kid(token: str, kid: str) -> str:
    header, rest = token.split(".", 1)
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**decoded, "kid": kid}).encode())
    return forged.rstrip(b"=").decode() + "." + rest


class Clock:
    """The module's clock: the real one (time-travelled by the test) plus an advance."""

    def __init__(self):
        self.advance = 0.0

    def __call__(self) -> float:
        return time.time() + self.advance


@pytest.fixture
def signed_in(live_server, browser, make_module, make_user):
    make_user()
    module = make_module("module-api")
    return module, log_in_and_get_tokens(browser, module)


def test_a_fresh_access_token_is_accepted_with_its_claims(live_server, signed_in):
    module, tokens = signed_in
    claims = AccessTokenVerifier(live_server.url, module.client_id).verify(
        tokens["access_token"])
    assert claims["iss"] == live_server.url
    assert claims["aud"] == claims["client_id"] == module.client_id
    assert claims["scope"] == "openid profile email habilitations"
    assert claims["exp"] - claims["iat"] == 600


def test_what_a_module_must_refuse(live_server, signed_in, make_module):
    module, tokens = signed_in
    clock = Clock()
    verifier = AccessTokenVerifier(live_server.url, module.client_id, clock)
    with pytest.raises(InvalidAccessToken, match="not an access token"):
        verifier.verify(tokens["id_token"])  # signed by the same keys, typ says otherwise
    with pytest.raises(InvalidAccessToken, match="refused"):
        AccessTokenVerifier(live_server.url, "another-module").verify(tokens["access_token"])
    with pytest.raises(InvalidAccessToken, match="undecodable"):
        verifier.verify(tokens["refresh_token"])
    # An unsigned token claiming alg none: {"alg":"none","typ":"at+jwt"}.{"iss":...}.
    with pytest.raises(InvalidAccessToken, match="undecodable"):
        verifier.verify("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.")
    clock.advance = 600 + 31  # past exp and the leeway
    with pytest.raises(InvalidAccessToken, match="refused"):
        verifier.verify(tokens["access_token"])


def test_a_key_rotation_as_the_module_sees_it(app, live_server, browser, signed_in):
    """Tokens signed before the rotation still verify (the old key stays published);
    a token of the new key names a kid the module has not seen: it reads the JWKS
    again, once; a forged kid does not make it refetch within MIN_REFETCH_SECONDS."""
    module, before = signed_in
    clock = Clock()
    verifier = AccessTokenVerifier(live_server.url, module.client_id, clock)
    verifier.verify(before["access_token"])
    fetched = verifier._fetched_at

    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    # The new key signs once every IdP process has had time to publish it.
    settled = utcnow() + timedelta(seconds=app.config["IDP_KEYS_REFRESH_SECONDS"] + 1)
    with time_machine.travel(settled, tick=True):
        after = log_in_and_get_tokens(browser, module, nonce="n-after")
        old_kid, new_kid = (jwt.decode(t["access_token"], jwks(live_server.url)).header["kid"]
                            for t in (before, after))
        assert old_kid != new_kid
        if time.time() - fetched < MIN_REFETCH_SECONDS:
            # The module's copy is recent: a new kid does not make it refetch yet.
            with pytest.raises(InvalidAccessToken):
                verifier.verify(after["access_token"])
            assert verifier._fetched_at == fetched
            clock.advance = MIN_REFETCH_SECONDS
        assert verifier.verify(after["access_token"])["sub"]
        assert verifier._fetched_at > fetched
        refetched = verifier._fetched_at
        assert verifier.verify(before["access_token"])["sub"]  # the old key is still there
        with pytest.raises(InvalidAccessToken):  # a forged kid: no refetch for it
            verifier.verify(_with_kid(after["access_token"], "forged-kid"))
        assert verifier._fetched_at == refetched
