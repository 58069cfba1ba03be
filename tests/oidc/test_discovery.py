"""Discovery and JWKS (OIDC Discovery 3; RFC 8414; RFC 7517)."""

from __future__ import annotations

from authlib.oidc.discovery import OpenIDProviderMetadata


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
