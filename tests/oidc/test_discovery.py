"""Discovery and JWKS (OIDC Discovery 3; RFC 8414; RFC 7517)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from authlib.oidc.discovery import OpenIDProviderMetadata
from sqlalchemy import event

from idp.extensions import db


def test_metadata_lists_exactly_what_is_supported(client):
    metadata = client.get("/.well-known/openid-configuration").json
    issuer = client.application.config["IDP_ISSUER"]
    assert metadata["issuer"] == issuer
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["acr_values_supported"] == ["eidas1"]
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert metadata["token_endpoint"] == issuer + "/token"
    OpenIDProviderMetadata(metadata).validate()


def test_jwks_publishes_public_keys_only(client):
    document = client.get("/jwks").json
    assert document["keys"]
    for key in document["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        assert key["kid"]
        assert key["use"] == "sig"


@pytest.mark.parametrize(("path", "max_age"), [
    ("/.well-known/openid-configuration", "max-age=3600"),
    ("/jwks", "max-age=300"),
])
def test_public_documents_are_cacheable_and_revalidate_with_304(client, path, max_age):
    first = client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == f"public, {max_age}"
    assert "Pragma" not in first.headers
    assert client.get(path).headers["ETag"] == etag  # same bytes, same tag

    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == f"public, {max_age}"
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_other_answers_stay_no_store(client):
    assert client.get("/userinfo").headers["Cache-Control"] == "no-store"


def test_jwks_follows_a_rotation_at_once(app, client):
    before = client.get("/jwks")
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output

    after = client.get("/jwks", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    kids = {key["kid"] for key in after.json["keys"]}
    assert {key["kid"] for key in before.json["keys"]} < kids  # the retired key stays
    assert after.headers["ETag"] != before.headers["ETag"]


# --- served before Flask from the cached bytes (idp.oidc.documents) -----------------

UNSTABLE = {"X-Request-Id", "Date"}


def _statements(app):
    """Count the SQL statements the application sends from now on."""
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(1))
    return seen


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_the_cached_answer_is_the_views_answer_without_the_database(app, client, path):
    built = client.get(path)  # by the Flask view
    statements = _statements(app)
    served = client.get(path, headers={"X-Request-Id": "req-0123456789"})
    assert statements == []  # no database, no session: the precomputed bytes
    assert served.data == built.data
    assert served.headers["X-Request-Id"] == "req-0123456789"
    assert {(k, v) for k, v in served.headers.items() if k not in UNSTABLE} \
        == {(k, v) for k, v in built.headers.items() if k not in UNSTABLE}

    head = client.head(path)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(built.data))
    not_modified = client.get(path, headers={"If-None-Match": f'"x", {built.headers["ETag"]}'})
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    assert statements == []


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_other_methods_and_query_strings_still_go_through_flask(client, path):
    client.get(path)
    refused = client.post(path)
    assert refused.status_code == 405
    assert "text/html" in refused.headers["Content-Type"]  # the French error page
    assert client.get(path + "?x=1").data == client.get(path).data


def test_the_cached_jwks_is_read_again_after_the_refresh_period(app, client):
    period = timedelta(seconds=app.config["IDP_KEYS_REFRESH_SECONDS"])
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        client.get("/jwks")
        statements = _statements(app)
        clock.move_to(start + period - timedelta(seconds=1))
        client.get("/jwks")
        assert statements == []
        clock.move_to(start + period)
        client.get("/jwks")
        assert statements != []  # the keys were read again
