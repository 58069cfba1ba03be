"""The frame of every page (docs/accessibility.md): the DSFR header with its « Menu »
modal, the footer's mandatory links to the four pages of ``idp/legal.py``, the display
settings; and those four pages, open to everyone, saying what the IdP really does."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from idp.extensions import db
from idp.legal import ACCESSIBILITY_STATUS
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text

LEGAL_PAGES = {
    "/legal/accessibility": "Déclaration d'accessibilité",
    "/legal/notice": "Mentions légales",
    "/legal/personal-data": "Données personnelles",
    "/legal/cookies": "Gestion des cookies",
}
FOOTER_LINKS = {
    "/legal/accessibility": "Accessibilité : non conforme",
    "/legal/notice": "Mentions légales",
    "/legal/personal-data": "Données personnelles",
    "/legal/cookies": "Gestion des cookies",
}
ANONYMOUS_PAGES = ["/login", "/forgot-password", "/page-qui-n-existe-pas", *LEGAL_PAGES]


def footer(text: str) -> str:
    return text[text.index('<footer class="fr-footer"'):text.index("</footer>")]


def header(text: str) -> str:
    return text[text.index('<header role="banner" class="fr-header"'):text.index("</header>")]


def assert_frame(text: str, phone: str = "0 800 74 74 00") -> None:
    """The header with its « Menu » modal, the footer with its legal row, the display settings."""
    top = header(text)
    assert ('<button class="fr-btn--menu fr-btn" type="button" id="header-menu-button" '
            'data-fr-opened="false" aria-controls="header-menu" title="Menu">Menu</button>') in top
    menu = top[top.index('<div class="fr-header__menu fr-modal" id="header-menu" '
                         'aria-labelledby="header-menu-button">'):]
    assert f"Assistance : {phone}" in menu
    assert f'href="tel:{phone.replace(" ", "")}"' in menu
    assert ">Manuel utilisateur</a>" in menu
    bottom = footer(text)
    for url, label in FOOTER_LINKS.items():
        assert f'<a class="fr-footer__bottom-link" href="{url}">{label}</a>' in bottom, url
    assert re.search(r'<button class="fr-footer__bottom-link fr-btn--display fr-btn" '
                     r'type="button" id="display-button" data-fr-opened="false" '
                     r'aria-controls="fr-theme-modal">Paramètres d\'affichage</button>', bottom)
    # Without JavaScript the phone and the manual are still in the footer.
    assert "Besoin d'aide ? Appelez l'Assistance au <a class=\"idp-phone\" " in bottom
    assert f">{phone}</a>" in bottom
    assert ">manuel utilisateur</a>" in bottom
    for site in ("info.gouv.fr", "service-public.gouv.fr", "legifrance.gouv.fr", "data.gouv.fr"):
        assert f'href="https://{site}"' in bottom, site
    assert "licence etalab-2.0" in bottom
    assert '<dialog id="fr-theme-modal" class="fr-modal"' in text
    for theme in ("Thème clair", "Thème sombre", "Système"):
        assert theme in text
    assert re.search(r'<noscript><link rel="stylesheet" href="/static/css/noscript.css">'
                     r'</noscript>', text)


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_every_page_has_the_menu_button_and_the_legal_footer(client, url):
    response = client.get(url)

    assert response.status_code == (404 if "n-existe-pas" in url else 200)
    assert_frame(page_text(response))


def test_the_pages_of_a_logged_in_user_and_of_the_console_have_them_too(client, make_user):
    make_user("agent.martin", habilitations=("bonuseco", "assistance"))
    assert login(client, "agent.martin", STRONG_PASSWORD).status_code == 303
    for url in ("/", "/account/password", "/assistance/", "/assistance/accounts/agent.martin",
                "/legal/cookies"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_frame(page_text(response))


@pytest.fixture
def other_phone(app_environ):
    app_environ["IDP_ASSISTANCE_PHONE"] = "0 969 32 22 22"


def test_the_phone_of_the_frame_comes_from_configuration(other_phone, client):
    text = page_text(client.get("/login"))
    assert_frame(text, phone="0 969 32 22 22")
    assert "0 800 74 74 00" not in text


@pytest.mark.parametrize(("url", "title"), LEGAL_PAGES.items())
def test_each_legal_page_is_open_to_everyone_and_names_itself(client, url, title):
    response = client.get(url)

    assert response.status_code == 200
    text = page_text(response)
    assert f"<h1>{title}</h1>" in text
    assert f"<title>{title} — BonusEco, Agence de Services et de Paiement</title>" in text
    # The side menu of the four pages marks the current one.
    assert re.search(rf'href="{url}" aria-current="page">', text)


def test_the_legal_pages_read_nothing_from_the_database(app, client):
    """They must answer while the database does not (the footer links there from the 503 page)."""
    statements = []

    def count(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for url in LEGAL_PAGES:
            assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []


def test_the_accessibility_statement_follows_the_rgaa_model(other_phone, client):
    text = page_text(client.get("/legal/accessibility"))

    assert ACCESSIBILITY_STATUS == "non conforme"
    assert ("BonusEco est <strong>non conforme</strong> avec le référentiel général "
            "d'amélioration de l'accessibilité (RGAA), version 4.1.2.") in text
    assert "article 47 de la loi n° 2005-102 du 11 février 2005" in text
    assert "n'a pas encore fait l'objet d'un audit" in text
    for check in ("axe-core", "clavier", "320 pixels", "200 %", "sans JavaScript"):
        assert check in text, check
    assert "Cette déclaration a été établie le 1er décembre 2026." in text
    assert "<h2>Retour d'information et contact</h2>" in text
    assert 'href="tel:0969322222">0 969 32 22 22</a>' in text
    assert "Agence de Services et de Paiement (ASP), 2 rue du Maupas, 87040 Limoges Cedex 1" in text
    assert "<h2>Voie de recours</h2>" in text
    assert ("Cette procédure est à utiliser dans le cas suivant : vous avez signalé au "
            "responsable du site internet un défaut d'accessibilité qui vous empêche "
            "d'accéder à un contenu ou à un des services du portail et vous n'avez pas "
            "obtenu de réponse satisfaisante.") in text
    assert ('Écrire un message au <a href="https://formulaire.defenseurdesdroits.fr/">'
            "Défenseur des droits</a>") in text
    assert "le délégué du Défenseur des droits dans votre région" in text
    assert "Libre réponse 71120" in text
    assert "75342 Paris CEDEX 07" in text


def test_the_legal_notice_names_the_agency_as_publisher(client):
    text = page_text(client.get("/legal/notice"))

    assert "est édité par l'Agence de Services et de Paiement (ASP)" in text
    assert "2 rue du Maupas, 87040 Limoges Cedex 1" in text
    assert "Directeur de la publication" in text
    assert "<h2>Hébergement</h2>" in text
    assert "http://127.0.0.1" in text  # the service's address: the issuer


def test_the_personal_data_page_says_what_is_kept_why_and_how_long(client):
    text = page_text(client.get("/legal/personal-data"))

    for kept in ("<strong>Votre identité</strong>", "<strong>Vos habilitations</strong>",
                 "<strong>Votre historique de connexion</strong>",
                 "<strong>Le journal de sécurité</strong>"):
        assert kept in text, kept
    assert "conservés uniquement sous forme d'empreintes" in text
    assert "mission d'intérêt public" in text
    assert "elle est effacée 30 jours après sa fermeture" in text
    assert "après 30 minutes d'inactivité et au plus tard 12 heures après son ouverture" in text
    assert 'href="/legal/cookies"' in text
    assert "CNIL" in text


def cookies_set(*responses) -> set[str]:
    return {header.split("=", 1)[0] for response in responses
            for header in response.headers.getlist("Set-Cookie")}


def test_the_cookies_page_lists_exactly_the_cookies_a_login_sets(client, make_user):
    make_user("jdupont")
    page = client.get("/login")
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    set_by_a_login = cookies_set(page, response)

    text = page_text(client.get("/legal/cookies"))
    listed = set(re.findall(r"<td><code>([^<]+)</code></td>", text))
    assert listed == set_by_a_login == {"idp_session", "idp_device"}
    assert "dispensés de consentement" in text
    assert "Jusqu'à la fermeture du navigateur" in text
    assert "le jeton des formulaires vaut 60 minutes" in text
    assert "365 jours, renouvelé à chaque connexion réussie" in text
    assert "<code>scheme</code>" in text  # the display settings, in local storage


def test_over_https_the_cookies_page_names_the_host_prefixed_cookies(app, client):
    app.config.update(SESSION_COOKIE_NAME="__Host-idp", SESSION_COOKIE_SECURE=True)

    listed = re.findall(r"<td><code>([^<]+)</code></td>", page_text(client.get("/legal/cookies")))
    assert listed == ["__Host-idp", "__Host-idp_device"]


def test_the_noscript_stylesheet_and_the_display_pictograms_are_served(client):
    noscript = client.get("/static/css/noscript.css")
    assert noscript.status_code == 200
    assert ".fr-header__navbar .fr-btn--menu" in noscript.text
    for pictogram in ("environment/sun", "environment/moon", "system/system"):
        response = client.get(f"/static/dsfr/artwork/pictograms/{pictogram}.svg")
        assert response.status_code == 200, pictogram
        assert b'id="artwork-major"' in response.data
