"""What a person does on the IdP's pages, and reads there, step by step (docs/flows.md).

The journeys of this folder are made of these steps; ``check`` (a11y.py) audits the
page states between them.
"""

import re

from playwright.sync_api import expect

from tests.browser import wording
from tests.user_guide import FORGOT_PASSWORD_LINK
from tests.user_guide import MSG_FORGOT_PASSWORD_DONE

# Like the test keys of hosted captchas, every image shows this text
# (IDP_CAPTCHA_FIXED_TEXT, README « Configuration »).
CAPTCHA_TEXT = "KM7RT4"


def type_new_password(page, password: str) -> None:
    """Type the new password, then wait for the strength meter's verdict as a person reads it.

    The meter asks the server as the person types; a form sent before that answer lets it
    arrive after the password change, and its cookie, sent before the change, then replaces
    the new session's: the person lands on the login page. A busy machine answers late.
    """
    page.wait_for_load_state()  # the meter's script is deferred: listening from then on
    with page.expect_response(re.compile(r"/password-change/strength$")):
        page.get_by_label("Nouveau mot de passe", exact=True).fill(password)


def choose_password(page, password: str) -> None:
    type_new_password(page, password)
    confirm_password(page, password)


def confirm_password(page, password: str) -> None:
    page.get_by_label("Confirmation du nouveau mot de passe").fill(password)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()


def expect_message(page, text: str) -> None:
    """The page says ``text``, word for word, wherever the page puts it."""
    expect(page.get_by_role("main")).to_contain_text(text)


def expect_field_error(field, text: str) -> None:
    """The field (a locator) says ``text`` to whoever reaches it: its description has it."""
    expect(field).to_have_accessible_description(re.compile(re.escape(text)))


def log_in(page, login: str, password: str) -> None:
    """Fill the login page in and send it."""
    page.get_by_label("Identifiant", exact=True).fill(login)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()


SECRET_QUESTION_CHOICE = "Quel est le nom de votre premier animal de compagnie ?"
SECRET_ANSWER_CHOICE = "Rantanplan"


def choose_secret(page) -> None:
    page.get_by_label("Question secrète").select_option(SECRET_QUESTION_CHOICE)
    page.get_by_label("Réponse secrète").fill(SECRET_ANSWER_CHOICE)
    page.get_by_role("button", name="Enregistrer la question secrète").click()


def type_captcha(page, text: str) -> None:
    page.get_by_label("Saisissez les caractères de l'image").fill(text)
    page.get_by_role("button", name="Valider").click()


def operation_result(page) -> int:
    """The result of the forgotten password's operation, shown as text on the page
    (« Combien font 7 + 5 ? ») and described to its field « Résultat »."""
    shown = re.compile(r"Combien font (\d+) ([+-]) (\d+) \?")
    expect(page.get_by_label("Résultat")).to_have_accessible_description(shown)
    left, operator, right = shown.search(page.get_by_text(shown).inner_text()).groups()
    return int(left) + int(right) if operator == "+" else int(left) - int(right)


def answer_operation(page) -> None:
    page.get_by_label("Résultat").fill(str(operation_result(page)))
    page.get_by_role("button", name="Continuer").click()


def log_out_from_home(page) -> None:
    """« Se déconnecter » on « Mes applications »."""
    page.get_by_role("main").get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name=wording.LOGGED_OUT_TITLE)).to_be_visible()
    expect_message(page, wording.LOGGED_OUT)


def forgotten_password_from_logout(page, check, login: str, answer: str) -> None:
    """From the logout page, through the login page's link, to the end of the procedure
    (the identifier typed on the first page), each page state audited."""
    page.get_by_role("link", name=wording.LOG_IN_AGAIN).click()
    page.get_by_role("link", name=FORGOT_PASSWORD_LINK, exact=True).click()
    expect(page.get_by_role("heading", name=FORGOT_PASSWORD_LINK)).to_be_visible()
    page.get_by_label("Identifiant", exact=True).fill(login)
    check(page, "forgot-password")
    answer_operation(page)
    expect(page.get_by_role("heading", name="Répondez à votre question secrète")).to_be_visible()
    check(page, "forgot-password-question")
    page.get_by_label("Réponse secrète").fill(answer)
    page.get_by_role("button", name="Valider").click()
    expect_message(page, MSG_FORGOT_PASSWORD_DONE)
    check(page, "forgot-password-done")


def search_accounts(page, query: str) -> None:
    """The Assistance console's search, on its page."""
    page.get_by_label("Rechercher un compte").fill(query)
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("heading", name=re.compile("compte"), level=2)).to_be_visible()


def open_account(page, login: str) -> None:
    """An account of the search results."""
    page.get_by_role("link", name=login, exact=True).click()
    expect(page.get_by_role("heading", name=f"Compte {login}")).to_be_visible()
