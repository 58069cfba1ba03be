"""The client-scope authorization: the user must hold the client's habilitation.

Checked at the authorization endpoint (with or without an SSO session), and
again when a code is redeemed and when a refresh token is used, so that a grant
revoked or ended in the meantime stops the tokens. The page and its message:
docs/flows.md, « Login and its errors ».
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from idp import audit
from idp.exceptions import InvalidInput
from idp.extensions import db
from idp.models import Client
from idp.models import Habilitation
from idp.models import HabilitationGrant
from idp.models import User


def get_habilitation(code: str) -> Habilitation:
    """The habilitation named ``code``; InvalidInput when there is none."""
    found = db.session.execute(
        select(Habilitation).where(Habilitation.code == code)
    ).scalar_one_or_none()
    if found is None:
        raise InvalidInput(f"habilitation inconnue « {code[:64]} »")
    return found


MSG_FORBIDDEN = (
    "Vous n'avez pas les autorisations requises pour vous connecter sur cette application"
)


def valid_grants(user: User, client: Client, now: datetime) -> list[HabilitationGrant]:
    """The user's grants of the client's habilitation that are valid right now."""
    return [
        grant for grant in user.grants
        if grant.habilitation_id == client.habilitation_id and grant.is_valid(now)
    ]


def is_allowed(user: User, client: Client, now: datetime) -> bool:
    """Whether ``user`` may log in to ``client`` now (active account, valid grant)."""
    return user.is_active and bool(valid_grants(user, client, now))


def record_refusal(user: User, client: Client, stage: str) -> None:
    """Audit a refusal (``habilitation.refused``); ``stage`` says where."""
    audit.record("habilitation.refused", outcome="failure", user=user,
                 client_id=client.client_id, habilitation=client.habilitation.code,
                 stage=stage)


def claim(user: User, client: Client, now: datetime) -> list[dict]:
    """The ``habilitations`` claim: the valid grants relevant to the client, with profile."""
    return [
        {"code": grant.habilitation.code, "label": grant.habilitation.label,
         "profile": grant.profile}
        for grant in valid_grants(user, client, now)
    ]


def codes_claim(user: User, client: Client, now: datetime) -> list[str]:
    """The flat ``habilitation_codes`` claim: ``code`` and ``code:profile`` strings, for
    modules that can only match strings (Apache mod_auth_openidc's ``Require claim``)."""
    codes: list[str] = []
    for grant in valid_grants(user, client, now):
        codes.append(grant.habilitation.code)
        if grant.profile:
            codes.append(f"{grant.habilitation.code}:{grant.profile}")
    return list(dict.fromkeys(codes))
