"""« J'ai oublié mon mot de passe » in Chromium, from the login page back to « Mes applications ».

The live server runs in this process, so patching the generator of the sum
makes it deterministic; the test still reads the sum on the page.
"""

import re

import pytest
from playwright.sync_api import expect

from idp.security import challenges
from tests.browser.conftest import choose_password
from tests.conftest import SECRET_ANSWER
from tests.conftest import SECRET_QUESTION
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "jdupont@example.test"
MSG_DONE = "Procédure terminée, merci de vérifier votre boîte aux lettres"


def test_forgotten_password_from_the_login_page_to_my_applications(page, live_server, make_user,
                                                                   mailbox, monkeypatch):
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (13, "-", 6))
    make_user("jdupont", email=EMAIL)

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_role("link", name="J'ai oublié mon mot de passe").click()

    # The identifier typed on the login page is carried over.
    expect(page).to_have_url(re.compile(r"/forgot-password\?identifier=jdupont$"))
    expect(page.get_by_label("Identifiant")).to_have_value("jdupont")
    hint = page.locator("#result-hint")
    expect(hint).to_have_text(re.compile(r"^Combien font \d+ [+-] \d+ \?$"))
    left, operator, right = re.search(r"(\d+) ([+-]) (\d+)", hint.inner_text()).groups()
    result = int(left) + int(right) if operator == "+" else int(left) - int(right)
    assert result == 7
    page.get_by_label("Résultat").fill(str(result))
    page.get_by_role("button", name="Continuer").click()

    expect(page).to_have_url(re.compile(r"/forgot-password/question$"))
    expect(page.locator("#secret-question")).to_have_text(SECRET_QUESTION)
    page.get_by_label("Réponse secrète").fill(SECRET_ANSWER.lower())
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("status")).to_have_text(MSG_DONE)

    # The mail went over real SMTP before the page was sent.
    provisional = mailbox.provisional_password(EMAIL)
    assert provisional != STRONG_PASSWORD

    page.get_by_role("link", name="Retour à la page de connexion").click()
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe", exact=True).fill(provisional)
    page.get_by_role("button", name="Se connecter").click()

    expect(page).to_have_url(re.compile(r"/password-change$"))
    choose_password(page, NEW_PASSWORD)

    # The secret question is set: no question again, no captcha (SPEC 1.2 step 4).
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/$"))
