"""All models, imported here so that Alembic and the app see every table."""

from idp.models.audit import AuditEvent
from idp.models.challenge import Challenge
from idp.models.client import Client
from idp.models.habilitation import BUILTIN_HABILITATIONS
from idp.models.habilitation import Habilitation
from idp.models.habilitation import HabilitationGrant
from idp.models.oauth import AuthorizationCode
from idp.models.oauth import SigningKey
from idp.models.oauth import Token
from idp.models.oauth import UsedClientAssertion
from idp.models.session import LoginFlow
from idp.models.session import UserSession
from idp.models.user import LoginThrottle
from idp.models.user import PasswordHistory
from idp.models.user import User

__all__ = [
    "BUILTIN_HABILITATIONS",
    "AuditEvent",
    "AuthorizationCode",
    "Challenge",
    "Client",
    "Habilitation",
    "HabilitationGrant",
    "LoginFlow",
    "LoginThrottle",
    "PasswordHistory",
    "SigningKey",
    "Token",
    "UsedClientAssertion",
    "User",
    "UserSession",
]
