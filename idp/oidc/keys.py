"""The IdP's signing keys, stored in the database (SPEC 2: rotation by command).

One active key per algorithm signs; `idp keys rotate` retires it and creates a
new one. A retired key stays in the JWKS until every token it signed is over
(OIDC Core 10.1.1: "keys no longer used for signing ... kept ... until all
tokens signed with them have expired"): the longest is an ID token kept as an
``id_token_hint`` for the life of an SSO session.
"""

from __future__ import annotations

import functools
import json
import secrets
from datetime import datetime
from datetime import timedelta

from flask import current_app
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import or_
from sqlalchemy import select

from idp.extensions import db
from idp.models import SigningKey

ALGORITHMS = ("RS256", "ES256")
DEFAULT_ALG = "RS256"


def _generate(alg: str, kid: str):
    """A new private key (RSA 3072 bits: ANSSI RGS B1 beyond 2030; P-256 for ES256)."""
    parameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "RS256":
        return RSAKey.generate_key(3072, parameters=parameters, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True)
    raise ValueError(f"unsupported alg {alg!r}")


def create_key(alg: str, now: datetime) -> SigningKey:
    kid = secrets.token_urlsafe(12)
    key = _generate(alg, kid)
    row = SigningKey(kid=kid, alg=alg, private_jwk=json.dumps(key.as_dict(private=True)),
                     created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def retention() -> timedelta:
    """How long a retired key stays published: the longest life of what it signed."""
    return timedelta(hours=current_app.config["IDP_SESSION_MAX_HOURS"])


def _active_rows(alg: str | None = None) -> list[SigningKey]:
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None))
    if alg is not None:
        stmt = stmt.where(SigningKey.alg == alg)
    return list(db.session.execute(stmt.order_by(SigningKey.id.desc())).scalars())


def active_key(alg: str, now: datetime) -> SigningKey:
    """The newest active key of ``alg``, created on first need."""
    rows = _active_rows(alg)
    return rows[0] if rows else create_key(alg, now)


def rotate(alg: str, now: datetime) -> tuple[SigningKey, list[SigningKey]]:
    """Create a new key for ``alg`` and retire the previous ones; (new, retired)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported alg {alg!r}")
    retired = _active_rows(alg)
    for row in retired:
        row.retired_at = now
        row.not_after = now + retention()
    return create_key(alg, now), retired


def published_rows(now: datetime) -> list[SigningKey]:
    """Active keys, and retired keys whose tokens may still be presented."""
    stmt = (
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.not_after > now))
        .order_by(SigningKey.id)
    )
    return list(db.session.execute(stmt).scalars())


def all_rows() -> list[SigningKey]:
    return list(db.session.execute(select(SigningKey).order_by(SigningKey.id)).scalars())


@functools.lru_cache(maxsize=64)
def _imported(private_jwk: str):
    """Importing a key validates it (about 110 ms of CPU for RSA 3072): once per key.

    Keyed on the stored JWK itself, which never changes for a kid, so the
    database stays the one source of truth and every worker agrees with it.
    """
    return KeySet.import_key_set({"keys": [json.loads(private_jwk)]}).keys[0]


def private_key(row: SigningKey):
    return _imported(row.private_jwk)


def signing_keyset(alg: str, now: datetime) -> KeySet:
    """A key set holding only the active key of ``alg``: joserfc then sets its kid."""
    return KeySet([private_key(active_key(alg, now))])


def verification_keyset(now: datetime) -> KeySet:
    """Public keys that verify what the IdP signed (active and retained)."""
    return KeySet([private_key(row) for row in published_rows(now)])


def public_jwks(now: datetime) -> dict:
    """The JWKS document: public members only (RFC 7517; DISC-03)."""
    keys = []
    for row in published_rows(now):
        public = private_key(row).as_dict(private=False)
        public.update(kid=row.kid, alg=row.alg, use="sig")
        keys.append(public)
    return {"keys": keys}
