"""The IdP's signing keys, stored in the database and rotated by ``idp keys rotate``.

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
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import or_
from sqlalchemy import select

from idp.extensions import db
from idp.models import SigningKey
from idp.settings import settings

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
    return timedelta(hours=settings().session_max_hours)


def _active_rows(alg: str | None = None) -> list[SigningKey]:
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None))
    if alg is not None:
        stmt = stmt.where(SigningKey.alg == alg)
    return list(db.session.execute(stmt.order_by(SigningKey.id.desc())).scalars())


def rotate(alg: str, now: datetime) -> tuple[SigningKey, list[SigningKey]]:
    """Create a new key for ``alg`` and retire the previous ones; (new, retired)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported alg {alg!r}")
    retired = _active_rows(alg)
    for row in retired:
        row.retired_at = now
        row.not_after = now + retention()
    forget_cached_keys()
    return create_key(alg, now), retired


def all_rows() -> list[SigningKey]:
    return list(db.session.execute(select(SigningKey).order_by(SigningKey.id)).scalars())


# --- the published keys, as each process sees them -------------------------------------
#
# Every token endpoint, userinfo and JWKS request needs the keys; reading and
# importing them each time cost more than the rest of a JWKS request. A process
# keeps what it read for IDP_KEYS_REFRESH_SECONDS (timed on the application's
# clock), and a rotation stays safe across processes and hosts because:
# - a key signs only once it has been published that long (``signing_record``):
#   by then every process's JWKS holds it, so a module that fetches the JWKS on
#   an unknown kid always finds it; the retired key signs until then;
# - a token naming a kid this process does not know yet makes it read again.


@dataclass(frozen=True)
class KeyRecord:
    """A published key, detached from any database session."""

    id: int
    kid: str
    alg: str
    private_jwk: str
    created_at: datetime
    retired_at: datetime | None
    not_after: datetime | None

    def published_at(self, now: datetime) -> bool:
        return self.retired_at is None or (self.not_after is not None and self.not_after > now)


@dataclass(frozen=True)
class _Snapshot:
    records: tuple[KeyRecord, ...]
    loaded_at: datetime


UNKNOWN_KID_REREAD = timedelta(seconds=1)


def _refresh_period() -> timedelta:
    return timedelta(seconds=settings().keys_refresh_seconds)


def _snapshot(now: datetime, force: bool = False) -> _Snapshot:
    cache = current_app.extensions.setdefault("idp_keys", {})
    snapshot = cache.get("snapshot")
    period = _refresh_period()
    if force or snapshot is None or not snapshot.loaded_at <= now < snapshot.loaded_at + period:
        stmt = (
            select(SigningKey.id, SigningKey.kid, SigningKey.alg, SigningKey.private_jwk,
                   SigningKey.created_at, SigningKey.retired_at, SigningKey.not_after)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.not_after > now))
            .order_by(SigningKey.id)
        )
        records = tuple(KeyRecord(*row) for row in db.session.execute(stmt).all())
        snapshot = _Snapshot(records, now)
        cache["snapshot"] = snapshot
    return snapshot


def copy_fresh_until(now: datetime) -> datetime:
    """Until when this process's copy of the keys is used without reading them again."""
    return _snapshot(now).loaded_at + _refresh_period()


def forget_cached_keys() -> None:
    """The next use reads the keys again (after a rotation in this process).

    The JWKS bytes that ``idp.oidc.documents`` serves go too.
    """
    current_app.extensions.get("idp_keys", {}).pop("snapshot", None)
    current_app.extensions.pop("idp_jwks", None)


def published(now: datetime) -> tuple[KeyRecord, ...]:
    """Active keys, and retired keys whose tokens may still be presented."""
    return tuple(r for r in _snapshot(now).records if r.published_at(now))


def signing_record(alg: str, now: datetime) -> KeyRecord:
    """The key that signs ``alg`` now: the newest published long enough (see above).

    Just after a rotation that is still the retired key (or, when even that one is
    younger than the period, the oldest published: the likeliest in every JWKS);
    a brand-new deployment (no key yet) creates one and signs with it at once,
    nobody holding an older JWKS.
    """
    for force in (False, True):
        candidates = [r for r in _snapshot(now, force).records
                      if r.alg == alg and r.published_at(now)]
        if any(r.retired_at is None for r in candidates):
            settled = [r for r in candidates if r.created_at <= now - _refresh_period()]
            return settled[-1] if settled else candidates[0]
    row = create_key(alg, now)
    forget_cached_keys()  # read again once committed (a rollback must leave no trace)
    return KeyRecord(row.id, row.kid, row.alg, row.private_jwk, row.created_at, None, None)


def ensure_active(alg: str, now: datetime) -> None:
    """Create the first key of ``alg`` if there is none (the JWKS is never empty)."""
    signing_record(alg, now)


@functools.lru_cache(maxsize=64)
def _imported(private_jwk: str):
    """Importing a key validates it (about 110 ms of CPU for RSA 3072): once per key.

    Keyed on the stored JWK itself, which never changes for a kid, so the
    database stays the one source of truth and every worker agrees with it.
    """
    return KeySet.import_key_set({"keys": [json.loads(private_jwk)]}).keys[0]


def private_key(record: KeyRecord | SigningKey):
    return _imported(record.private_jwk)


def signing_keyset(alg: str, now: datetime) -> KeySet:
    """A key set holding only the signing key of ``alg``: joserfc then sets its kid."""
    return KeySet([private_key(signing_record(alg, now))])


def kid_of(token: object) -> str | None:
    """The ``kid`` header of a compact JWS, or None when it is not one."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    return kid if isinstance(kid, str) else None


def verification_keyset(now: datetime, kid: str | None = None) -> KeySet:
    """Public keys that verify what the IdP signed (active and retained).

    A ``kid`` this process has not seen yet (a host whose clock runs ahead, just
    after a rotation) makes it read the keys again, at most once a second: tokens
    with made-up kids must not turn into one query each.
    """
    records = published(now)
    unknown = kid is not None and all(r.kid != kid for r in records)
    if unknown and now - _snapshot(now).loaded_at >= UNKNOWN_KID_REREAD:
        _snapshot(now, force=True)
        records = published(now)
    return KeySet([private_key(r) for r in records])


def public_jwks(now: datetime) -> dict:
    """The JWKS document: public members only (RFC 7517)."""
    keys = []
    for record in published(now):
        public = private_key(record).as_dict(private=False)
        public.update(kid=record.kid, alg=record.alg, use="sig")
        keys.append(public)
    return {"keys": keys}
