"""`idp clients create` (SPEC 2, 3.3): secret shown once and stored keyed-hashed; refusals."""

from __future__ import annotations

import json
import re

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from idp.extensions import db
from idp.models import Client
from idp.security.keyed_hash import keyed_hash
from tests.cli.conftest import assert_one_line_refusal

CREATE = ["clients", "create", "module-vente", "--name", "Module vente",
          "--redirect-uri", "https://vente.bonuseco.example.fr/callback",
          "--habilitation", "bonuseco"]


def client_row(client_id: str) -> Client:
    """The stored client, loaded with its habilitation, detached from the session."""
    db.session.expire_all()
    row = db.session.execute(
        select(Client).options(joinedload(Client.habilitation))
        .where(Client.client_id == client_id)
    ).scalar_one()
    db.session.expunge_all()
    return row


@pytest.fixture
def public_jwks(tmp_path):
    key = ECKey.generate_key("P-256")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    private_path = tmp_path / "private-jwks.json"
    private_path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    return path, private_path


def test_a_confidential_client_gets_its_secret_printed_once(runner, snapshot):
    result = runner.invoke(args=[*CREATE, "--post-logout-redirect-uri",
                                 "https://vente.bonuseco.example.fr/",
                                 "--backchannel-logout-uri",
                                 "https://vente.bonuseco.example.fr/backchannel-logout",
                                 "--skip-consent"])

    assert result.exit_code == 0, result.output
    # The secret alone on stdout (SECRET=$(idp clients create ...)), the words on stderr.
    (secret,) = result.stdout.splitlines()
    assert re.fullmatch(r"\S{40,}", secret)
    assert "affiché une seule fois" in result.stderr
    assert secret not in result.stderr
    row = client_row("module-vente")
    assert row.token_endpoint_auth_method == "client_secret_basic"
    assert row.secret_hash == keyed_hash("client-secret", secret)
    assert row.redirect_uris == ["https://vente.bonuseco.example.fr/callback"]
    assert row.post_logout_redirect_uris == ["https://vente.bonuseco.example.fr/"]
    assert row.skip_consent is True
    assert row.habilitation.code == "bonuseco"
    # Nowhere in the database in clear: not in the client row, not in the audit trail.
    assert secret not in repr(snapshot())


def test_each_client_gets_its_own_secret(runner):
    first = runner.invoke(args=CREATE).stdout
    second = runner.invoke(args=[*CREATE[:2], "module-location", *CREATE[3:]]).stdout
    assert first.strip() != second.strip()


def test_client_secret_post(runner):
    result = runner.invoke(args=[*CREATE, "--auth-method", "client_secret_post"])
    assert "une seule fois" in result.stderr
    assert client_row("module-vente").token_endpoint_auth_method == "client_secret_post"


def test_pkce_05_pkce_is_required_unless_registered_optional(runner):
    required = runner.invoke(args=CREATE)
    optional = runner.invoke(args=[*CREATE[:2], "module-ancien", *CREATE[3:], "--pkce-optional"])

    assert "PKCE obligatoire" in required.stderr  # with a secret, the words go to stderr
    assert "PKCE facultatif" in optional.stderr
    assert client_row("module-vente").pkce_optional is False
    assert client_row("module-ancien").pkce_optional is True


def test_a_public_client_has_no_secret(runner):
    result = runner.invoke(args=[*CREATE, "--public",
                                 "--redirect-uri", "http://127.0.0.1:8400/callback"])

    assert result.exit_code == 0, result.output
    assert "Secret" not in result.output
    row = client_row("module-vente")
    assert row.is_public is True
    assert row.token_endpoint_auth_method == "none"
    assert row.secret_hash is None
    assert "http://127.0.0.1:8400/callback" in row.redirect_uris


def test_private_key_jwt_with_public_keys(runner, public_jwks):
    path, _ = public_jwks

    result = runner.invoke(args=[*CREATE, "--auth-method", "private_key_jwt", "--jwks", str(path),
                                 "--id-token-alg", "ES256", "--signed-userinfo"])

    assert result.exit_code == 0, result.output
    assert "Secret" not in result.output
    row = client_row("module-vente")
    assert row.secret_hash is None
    assert row.jwks["keys"][0]["crv"] == "P-256"
    assert "d" not in row.jwks["keys"][0]
    assert row.id_token_signed_response_alg == "ES256"
    assert row.userinfo_signed is True


def test_private_key_jwt_with_a_jwks_uri(runner):
    result = runner.invoke(args=[*CREATE, "--auth-method", "private_key_jwt",
                                 "--jwks-uri", "https://vente.bonuseco.example.fr/jwks.json"])
    assert result.exit_code == 0, result.output
    assert client_row("module-vente").jwks_uri == "https://vente.bonuseco.example.fr/jwks.json"


def test_the_registration_is_audited_without_the_secret(runner, audit_rows):
    result = runner.invoke(args=CREATE)
    (row,) = audit_rows("client.created")
    assert row.client_id == "module-vente"
    assert row.actor == "cli"
    assert result.stdout.strip() not in repr(row.details)


BAD_INPUT = [
    (["--redirect-uri", "http://vente.bonuseco.example.fr/callback"], "https"),
    (["--redirect-uri", "http://192.168.0.10/callback"], "https"),
    (["--redirect-uri", "https://vente.bonuseco.example.fr/cb#fragment"], "redirect_uri invalide"),
    (["--redirect-uri", "callback"], "redirect_uri invalide"),
    (["--post-logout-redirect-uri", "http://vente.example.fr/"], "post_logout_redirect_uri"),
    (["--backchannel-logout-uri", "http://vente.example.fr/bc"], "backchannel_logout_uri"),
    (["--auth-method", "private_key_jwt"], "private_key_jwt demande --jwks-uri ou --jwks"),
    (["--auth-method", "private_key_jwt", "--jwks-uri", "http://vente.example.fr/jwks"],
     "jwks_uri"),
    (["--auth-method", "private_key_jwt", "--jwks", "/nulle/part.json"], "fichier JWKS illisible"),
    (["--auth-method", "private_key_jwt", "--jwks", "PRIVATE"], "clés publiques"),
    (["--auth-method", "private_key_jwt", "--jwks", "PUBLIC", "--jwks-uri",
      "https://vente.example.fr/jwks"], "s'excluent"),
    (["--public", "--auth-method", "client_secret_basic"], "client public"),
    (["--auth-method", "none"], "client public"),
    (["--auth-method", "client_secret_jwt"], "--auth-method"),
    (["--id-token-alg", "HS256"], "--id-token-alg"),
    (["--public", "--pkce-optional", "--redirect-uri", "http://127.0.0.1:8400/cb"], "PKCE"),
]


@pytest.mark.parametrize(("extra", "named"), BAD_INPUT,
                         ids=[" ".join(extra)[:40] for extra, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_changes_nothing(extra, named, runner, snapshot, public_jwks):
    public, private = public_jwks
    extra = [{"PUBLIC": str(public), "PRIVATE": str(private)}.get(arg, arg) for arg in extra]
    before = snapshot()

    result = runner.invoke(args=[*CREATE, *extra])

    assert_one_line_refusal(result, named)
    assert snapshot() == before


@pytest.mark.parametrize(("args", "named"), [
    (["clients", "create", "module-vente", "--name", "X", "--habilitation", "bonuseco"],
     "--redirect-uri"),
    ([*CREATE[:-1], "inconnue"], "habilitation inconnue"),
    (["clients", "create", "module vente é", *CREATE[3:]], "identifiant de client invalide"),
    (["clients", "create", "m" * 65, *CREATE[3:]], "identifiant de client invalide"),
    (CREATE, "existe déjà"),
], ids=["no-redirect-uri", "unknown-habilitation", "non-ascii-id", "long-id", "duplicate"])
def test_bad_registration_is_one_line_and_changes_nothing(args, named, runner, snapshot):
    runner.invoke(args=[*CREATE[:2], "module-existant", *CREATE[3:]])
    if named == "existe déjà":
        runner.invoke(args=CREATE)
    before = snapshot()

    result = runner.invoke(args=args)

    assert_one_line_refusal(result, named)
    assert snapshot() == before


def test_authz_04_disable_then_enable_a_client(runner, audit_rows):
    runner.invoke(args=CREATE)

    disabled = runner.invoke(args=["clients", "disable", "module-vente", "--reason", "fuite"])

    assert disabled.exit_code == 0, disabled.output
    assert "module-vente désactivé" in disabled.stdout
    assert client_row("module-vente").is_active is False
    (row,) = audit_rows("client.disabled")
    assert (row.client_id, row.actor, row.details["reason"]) == ("module-vente", "cli", "fuite")

    enabled = runner.invoke(args=["clients", "enable", "module-vente"])

    assert enabled.exit_code == 0, enabled.output
    assert "module-vente réactivé" in enabled.stdout
    assert client_row("module-vente").is_active is True
    assert audit_rows("client.enabled")


@pytest.mark.parametrize(("args", "named"), [
    (["clients", "disable", "inconnu"], "client inconnu « inconnu »"),
    (["clients", "enable", "module-vente"], "déjà actif"),
    (["clients", "disable", "x" * 300], "client inconnu"),
    (["clients", "disable", "nul\x00"], "client inconnu"),
], ids=["unknown", "already-active", "long", "nul"])
def test_authz_04_bad_enable_or_disable_is_one_line_and_changes_nothing(
        args, named, runner, snapshot):
    runner.invoke(args=CREATE)
    before = snapshot()

    result = runner.invoke(args=args)

    assert_one_line_refusal(result, named)
    assert snapshot() == before


def test_clients_list_shows_state_and_pkce(runner):
    runner.invoke(args=CREATE)
    runner.invoke(args=[*CREATE[:2], "module-ancien", *CREATE[3:], "--pkce-optional"])
    runner.invoke(args=["clients", "disable", "module-ancien"])

    result = runner.invoke(args=["clients", "list"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "module-ancien\tModule vente\tclient_secret_basic\tdésactivé\tPKCE facultatif",
        "module-vente\tModule vente\tclient_secret_basic\tactif\tPKCE obligatoire",
    ]
