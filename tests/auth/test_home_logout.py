"""The home page « Mes applications », logout, security headers and error pages."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import UserSession
from idp.oidc import registration as clients
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text


def register(client_id: str, name: str, habilitation: str, **extra) -> None:
    clients.create_client(clients.NewClient(
        client_id=client_id, name=name, habilitation=habilitation,
        redirect_uris=[f"https://{client_id}.example/callback"],
        client_uri=f"https://{client_id}.example/", **extra,
    ), actor="test")


def logged_in(client, make_user, **kwargs):
    user = make_user(**kwargs)
    assert login(client, user.login, STRONG_PASSWORD).status_code == 303
    return user


# --- home --------------------------------------------------------------------------


def test_home_lists_the_modules_the_user_is_habilitated_for(client, make_user):
    register("bonus", "Bonus Eco — dossiers", "bonuseco")
    register("console", "Console de l'Assistance", "assistance")
    commit()
    logged_in(client, make_user, habilitations=("bonuseco",))
    text = page_text(client.get("/"))
    assert '<a href="https://bonus.example/">Bonus Eco — dossiers</a>' in text
    assert "Console de l'Assistance" not in text
    assert "Bonjour Jean Dupont." in text
    assert "Identifiant : <strong>jdupont</strong>" in text


def test_home_gives_the_password_expiry_as_a_day_in_paris(client, make_user):
    """Changed at 23:30 UTC in winter: 90 days later it is already the next day in Paris."""
    changed = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    make_user(password_changed_at=changed)
    with time_machine.travel(changed + timedelta(days=1), tick=False):
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
        text = page_text(client.get("/"))
    assert "Votre mot de passe expire le 06/04/2026." in text  # 05/04 23:30 UTC


def test_home_links_operators_to_the_assistance_console(app, client, make_user):
    logged_in(client, make_user, habilitations=("bonuseco",))
    assert 'href="/assistance/"' not in client.get("/").text
    operator = app.test_client()
    make_user("agent.roux", habilitations=("assistance",), email="agent.roux@asp.test")
    assert login(operator, "agent.roux", STRONG_PASSWORD).status_code == 303
    text = page_text(operator.get("/"))
    assert '<a class="fr-link fr-icon-arrow-right-line fr-link--icon-right" ' \
           'href="/assistance/">Console Assistance</a>' in text


def test_home_without_habilitation_points_to_the_assistance(client, make_user):
    register("bonus", "Bonus Eco — dossiers", "bonuseco")
    commit()
    logged_in(client, make_user, habilitations=())
    text = page_text(client.get("/"))
    assert "Bonus Eco — dossiers" not in text
    assert "Aucune application ne vous est ouverte pour le moment." in text


def test_home_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/"


# --- logout ------------------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(client, make_user, audit_rows):
    user = logged_in(client, make_user)
    token = csrf_token(client.get("/").text)
    old_cookie = client.get_cookie("idp_session").value
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in page_text(response)
    assert client.get("/").status_code == 303
    # The cookie saved before the logout opens nothing any more.
    client.set_cookie("idp_session", old_cookie)
    assert client.get("/").headers["Location"] == "/login?next=/"
    [row] = db.session.execute(select(UserSession)).scalars()
    assert row.ended_at is not None
    [event] = audit_rows("logout")
    assert (event.user_id, event.details) == (user.id, {"sid": row.sid})


def test_get_logout_asks_for_a_confirmation(client, make_user):
    logged_in(client, make_user)
    response = client.get("/logout")
    text = page_text(response)
    assert response.status_code == 200
    assert "Se déconnecter de BonusEco ?" in text
    assert 'method="post" action="/logout"' in text
    # « Annuler » goes back to the home page, still logged in.
    assert '<a class="fr-btn fr-btn--secondary" href="/">Annuler</a>' in text
    assert client.get("/").status_code == 200  # still logged in


def test_logout_without_csrf_token_keeps_the_session(client, make_user):
    logged_in(client, make_user)
    response = client.post("/logout")
    assert response.status_code == 400
    assert "Le formulaire a expiré" in page_text(response)
    assert client.get("/").status_code == 200


def test_logout_without_session_goes_to_the_login_page(client):
    response = client.get("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


# --- headers -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/", "/logout", "/password-change", "/nowhere"])
def test_every_page_carries_the_security_headers(client, make_user, path):
    logged_in(client, make_user)
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # production only


def test_pages_have_no_inline_script(client):
    text = client.get("/login").text
    assert "<script>" not in text
    assert " onclick=" not in text


def test_static_files_may_be_cached(client):
    with client.get("/static/css/idp.css") as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- error pages -------------------------------------------------------------------


def test_unknown_page_gets_the_french_404(client):
    response = client.get("/nowhere")
    text = page_text(response)
    assert response.status_code == 404
    assert "Page introuvable" in text
    assert "La page que vous cherchez n'existe pas ou a été déplacée." in text
    assert "0 800 74 74 00" in text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(("method", "path"), [("put", "/login"), ("delete", "/logout"),
                                              ("get", "/password-change/strength")])
def test_wrong_method_gets_the_french_405(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert "Méthode non autorisée" in page_text(response)
    assert "Cette page ne s'utilise pas ainsi." in page_text(response)
    assert "Allow" in response.headers
