"""``idp demo seed``: demo data for development and benchmarks.

Idempotent: each run puts the demo accounts back in their state and prints
their passwords; bench accounts are only added when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from idp.assistance import services
from idp.extensions import db
from idp.models import Client
from idp.models import HabilitationGrant
from idp.models import User
from idp.models import UserSession
from idp.oidc.clients import hash_client_secret
from idp.oidc.habilitations import get_habilitation
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from idp.security import passwords

# Demo and bench passwords are printed on purpose: development and tests only.
DEMO_PASSWORD = "Tournesol-Cartable-Velo-47"  # noqa: S105 (public demo value)
BENCH_PASSWORD = "Banc-Essai-Mesure-Perf-2026"  # noqa: S105 (public bench value)
# Accounts in use have set their secrets (else the login asks for them first).
DEMO_QUESTION = "Quel est le nom de votre premier animal de compagnie ?"
DEMO_ANSWER = "rantanplan"


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    name: str
    port: int
    callback: str = "/callback"  # path of the redirect URI
    backchannel: str = "/backchannel-logout"  # path (and query) of the back-channel logout URI


DEMO_CLIENTS = (
    DemoClient("demo-module", "Module de démonstration", 5001),
    DemoClient("demo-module-2", "Second module de démonstration", 5002),
    # Apache with mod_auth_openidc (examples/apache/bonuseco-module.conf): the module
    # answers the IdP at its redirect URI, the back-channel logout included.
    DemoClient("demo-apache", "Module Apache de démonstration", 5003,
               callback="/app/redirect_uri", backchannel="/app/redirect_uri?logout=backchannel"),
)
# A development-only secret, so that the demo module can start without setup.
DEMO_CLIENT_SECRET = "idpcs_demo-secret-for-development-only-0123456789"  # noqa: S105 (demo)


@dataclass
class SeededAccount:
    login: str
    state: str
    password: str


def _ensure_client(demo: DemoClient) -> None:
    stmt = select(Client).where(Client.client_id == demo.client_id)
    client = db.session.execute(stmt).scalar()
    if client is None:
        base = f"http://127.0.0.1:{demo.port}"
        client, _secret = create_client(NewClient(
            client_id=demo.client_id, name=demo.name, redirect_uris=[base + demo.callback],
            habilitation="bonuseco", post_logout_redirect_uris=[f"{base}/"],
            backchannel_logout_uri=base + demo.backchannel, skip_consent=True,
            client_uri=f"{base}/",
        ), actor="demo")
    client.secret_hash = hash_client_secret(DEMO_CLIENT_SECRET)


def _ensure_user(login: str, given: str, family: str, codes: tuple[str, ...], now) -> User:
    user = db.session.execute(select(User).where(User.login == login)).scalar()
    if user is None:
        user = services.create_user(services.NewAccount(
            login=login, email=f"{login}@demo.bonuseco.test", given_name=given,
            family_name=family, habilitations=tuple((c, "demo") for c in codes),
        ), actor="demo", reason="demo seed", now=now)
    return user


def _set_chosen_password(user: User, password_hash: str, changed_at: datetime) -> None:
    user.password_hash = password_hash
    user.password_changed_at = changed_at
    user.is_provisional = False
    user.provisional_hash = None
    user.provisional_expires_at = None
    user.failed_attempts = 0
    user.locked_until = None
    user.is_active = True
    user.secret_question = DEMO_QUESTION
    user.secret_answer_hash = passwords.hash_password(DEMO_ANSWER)
    user.first_connection_completed_at = changed_at


def seed_accounts(now: datetime) -> list[SeededAccount]:
    demo_hash = passwords.hash_password(DEMO_PASSWORD)
    seeded = []
    for login, state, given, family, codes in (
        ("demo.actif", "actif", "Alice", "Martin", ("bonuseco",)),
        ("demo.verrouille", "verrouillé", "Victor", "Durand", ("bonuseco",)),
        ("demo.expire", "mot de passe expiré", "Emma", "Petit", ("bonuseco",)),
        ("demo.assistance", "opérateur Assistance", "Agnès", "Roux", ("bonuseco", "assistance")),
    ):
        user = _ensure_user(login, given, family, codes, now)
        _set_chosen_password(user, demo_hash, now)
        if state == "verrouillé":
            user.failed_attempts = 3
            user.locked_until = now + timedelta(minutes=20)
        if state == "mot de passe expiré":
            user.password_changed_at = now - timedelta(days=100)
        seeded.append(SeededAccount(login, state, DEMO_PASSWORD))
    newcomer = db.session.execute(select(User).where(User.login == "demo.nouveau")).scalar()
    if newcomer is None:
        newcomer = _ensure_user("demo.nouveau", "Nina", "Lefebvre", ("bonuseco",), now)
    else:
        newcomer.password_hash = newcomer.secret_answer_hash = newcomer.secret_question = None
        newcomer.first_connection_completed_at = None
        services.resend_welcome(newcomer, actor="demo", reason="demo seed", now=now)
    seeded.append(SeededAccount("demo.nouveau", "première connexion à faire",
                                "(voir les mails dans instance/outbox/)"))
    return seeded


def seed_bench_users(count: int, now: datetime) -> int:
    """Add bench-00001... sharing BENCH_PASSWORD (one hash for all); returns how many added."""
    existing = db.session.execute(
        select(func.count()).select_from(User).where(User.login.like("bench-%"))
    ).scalar_one()
    if existing >= count:
        return 0
    shared_hash = passwords.hash_password(BENCH_PASSWORD)
    answer_hash = passwords.hash_password(DEMO_ANSWER)
    habilitation = get_habilitation("bonuseco")
    rows = [
        {"login": f"bench-{n:05d}", "email": f"bench-{n:05d}@bench.bonuseco.test",
         "given_name": "Banc", "family_name": f"Essai {n:05d}", "password_hash": shared_hash,
         "password_changed_at": now, "subject": f"bench-sub-{n:05d}",
         "secret_question": DEMO_QUESTION, "secret_answer_hash": answer_hash,
         "is_provisional": False, "failed_attempts": 0, "is_active": True, "created_at": now,
         "first_connection_completed_at": now}
        for n in range(existing + 1, count + 1)
    ]
    for start in range(0, len(rows), 2000):
        db.session.execute(insert(User), rows[start:start + 2000])
    ids = db.session.execute(select(User.id).where(User.login.like("bench-%"))).scalars().all()
    granted = set(db.session.execute(
        select(HabilitationGrant.user_id)
        .where(HabilitationGrant.habilitation_id == habilitation.id)
    ).scalars())
    grants = [{"user_id": i, "habilitation_id": habilitation.id, "profile": "bench",
               "granted_by": "demo", "granted_at": now} for i in ids if i not in granted]
    for start in range(0, len(grants), 2000):
        db.session.execute(insert(HabilitationGrant), grants[start:start + 2000])
    return len(rows)


def seed(now: datetime, bench_users: int = 0) -> tuple[list[SeededAccount], int]:
    for demo in DEMO_CLIENTS:
        _ensure_client(demo)
    accounts = seed_accounts(now)
    # Sessions of the demo accounts from an earlier run end with the reset.
    db.session.execute(
        UserSession.__table__.update()
        .where(UserSession.user_id.in_(select(User.id).where(User.login.like("demo.%"))),
               UserSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return accounts, seed_bench_users(bench_users, now)
