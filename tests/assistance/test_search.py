"""Search by login, email, name or SIRET; pagination (timings: bench/search_accounts.py)."""

from __future__ import annotations

import re

import pytest

from idp.assistance import services
from idp.clock import utcnow
from idp.database import commit
from idp.demo import seed_bench_users
from tests.conftest import page_text

SIRET = "73282932000074"


@pytest.fixture
def accounts(app):
    """45 bench accounts (one shared hash: cheap) and one with accents and a SIRET."""
    seed_bench_users(45, utcnow())
    services.create_user(services.NewAccount(
        login="zlefevre", email="Zoe.Lefevre@Example.test", given_name="Zoé",
        family_name="Lefèvre", siret=SIRET), actor="test", reason="fixture", now=utcnow())
    commit()


def logins(response) -> list[str]:
    return re.findall(r'href="/assistance/accounts/([^"]+)"', response.text)


def test_finds_by_login_email_name_or_siret(console, accounts):
    # One setup for many queries: accounts are costly to make (argon2).
    for query in ("zlef", "ZLEFEVRE", "zoe.lefevre@", "ZOE.LEFEVRE@EXAMPLE.TEST", "lefèvre",
                  "LEFEVRE", "Lefevre Zoé", "zoe lefevre", SIRET, "732 829 320", "73282932"):
        response = console.get("/assistance/", query_string={"q": query})
        assert response.status_code == 200
        assert logins(response) == ["zlefevre"], query
        assert "1 compte trouvé" in page_text(response)


def test_only_prefixes_match(console, accounts):
    for query in ("efevre", "oe.lefevre", "29320", "bench-1000", "%", "_e", "' OR 1=1 --"):
        response = console.get("/assistance/", query_string={"q": query})
        assert response.status_code == 200
        assert logins(response) == [], query
        assert "Aucun compte trouvé" in page_text(response)


def test_results_are_paginated_by_login(console, accounts):
    first = console.get("/assistance/", query_string={"q": "bench-"})
    assert "45 comptes trouvés" in page_text(first)
    assert "Page 1 sur 3" in page_text(first)
    assert logins(first) == [f"bench-{n:05d}" for n in range(1, 21)]
    assert "page=2" in first.text
    last = console.get("/assistance/", query_string={"q": "bench-", "page": 3})
    assert logins(last) == [f"bench-{n:05d}" for n in range(41, 46)]
    assert "Page suivante" not in page_text(last)
    assert "Page précédente" in page_text(last)


def test_a_bad_page_number_shows_a_valid_page(console, accounts):
    for page in ("0", "-3", "abc", "99999", "1e9"):
        response = console.get("/assistance/", query_string={"q": "bench-", "page": page})
        assert response.status_code == 200
        assert len(logins(response)) in (20, 5), page


def test_a_too_short_query_says_so(console, accounts):
    response = console.get("/assistance/", query_string={"q": "b"})
    assert "saisissez au moins 2 caractères" in page_text(response)
    assert logins(response) == []


def test_a_huge_query_is_cut_not_an_error(console, accounts):
    response = console.get("/assistance/", query_string={"q": "bench-" + "x" * 5000})
    assert response.status_code == 200
    assert "Aucun compte trouvé" in page_text(response)


def test_the_empty_search_page_has_a_labelled_field(console):
    response = console.get("/assistance/")
    assert response.status_code == 200
    assert '<label class="fr-label" for="q">Rechercher un compte' in response.text


def test_many_matches_are_counted_up_to_a_cap(console, app, monkeypatch, accounts):
    from idp.assistance import search

    monkeypatch.setattr(search, "MAX_COUNTED", 30)
    response = console.get("/assistance/", query_string={"q": "bench"})
    assert "Plus de 30 comptes : précisez la recherche" in page_text(response)
    assert "Page 1 sur 2" in page_text(response)
