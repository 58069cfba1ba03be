"""How the authorization response reaches the module (OAuth 2.0 Multiple Response Type
Encoding Practices 2.1, Form Post Response Mode 2), and ``prompt=consent`` (OIDC Core
3.1.2.1) for a first-party module."""

from __future__ import annotations

import re
from html import unescape

import pytest

from idp.extensions import db
from idp.models import HabilitationGrant
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.security.oauth import CALLBACK
from tests.security.oauth import VERIFIER
from tests.security.oauth import authorize_url
from tests.security.oauth import query_of
from tests.security.oauth import redeem
from tests.security.oauth import register_module


@pytest.fixture
def signed_in(client, make_user):
    make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def _posted(response, action: str = CALLBACK) -> dict[str, str]:
    """The form a form_post page sends: its action and its hidden fields."""
    assert response.status_code in (200, 403), response.get_data(as_text=True)[:300]
    html = response.get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="([^"]*)"', html)
    assert [unescape(a) for a in forms] == [action]
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    return {unescape(name): unescape(value) for name, value in fields}


def test_form_post_sends_the_code_to_the_module_by_a_posted_form(app, signed_in):
    module = register_module()
    response = signed_in.get(authorize_url(module.client_id, response_mode="form_post",
                                           state="st-42"))
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    fields = _posted(response)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "st-42"
    assert fields["iss"] == app.config["IDP_ISSUER"]
    # No inline script: the CSP allows only our own files, and ours submits the form.
    html = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert re.findall(r"<script[^>]*>", html)[-1] == \
        '<script src="/static/js/form-post.js" defer>'
    assert "onload" not in html
    assert signed_in.get("/static/js/form-post.js").status_code == 200
    assert redeem(signed_in, module, fields["code"], VERIFIER).status_code == 200


def test_form_post_keeps_the_query_of_a_registered_redirect_uri_in_the_action(
        app, signed_in):
    with_query = CALLBACK + "?tenant=a&x=1"
    module = register_module()
    db.session.execute(db.text("UPDATE clients SET redirect_uris = :uris"),
                       {"uris": f'["{with_query}"]'})
    db.session.commit()
    response = signed_in.get(authorize_url(module.client_id, redirect_uri=with_query,
                                           response_mode="form_post"))
    assert set(_posted(response, with_query)) == {"code", "state", "iss"}


def test_form_post_errors_are_posted_too(app, client):
    module = register_module()
    response = client.get(authorize_url(module.client_id, response_mode="form_post",
                                        prompt="none"))
    assert _posted(response) == {"error": "login_required", "state": "s1",
                                 "iss": app.config["IDP_ISSUER"]}


def test_form_post_errors_at_an_open_session_are_posted_too(app, signed_in):
    """A session too old for ``max_age=0`` with ``prompt=none``: login_required, posted."""
    module = register_module()
    response = signed_in.get(authorize_url(module.client_id, response_mode="form_post",
                                           prompt="none", max_age="0", state="st-9"))
    assert _posted(response) == {"error": "login_required", "state": "st-9",
                                 "iss": app.config["IDP_ISSUER"]}


def test_form_post_back_from_the_refusal_page_posts_access_denied(app, signed_in):
    module = register_module()
    db.session.execute(db.delete(HabilitationGrant))
    db.session.commit()
    response = signed_in.get(authorize_url(module.client_id, response_mode="form_post"))
    assert response.status_code == 403
    fields = _posted(response)
    assert fields.pop("error_description")
    assert fields == {"error": "access_denied", "state": "s1", "iss": app.config["IDP_ISSUER"]}


@pytest.mark.parametrize("mode", ["fragment", "jwt", "query.jwt", "FORM_POST"])
def test_an_unsupported_response_mode_is_invalid_request_in_the_query(signed_in, mode):
    module = register_module()
    response = signed_in.get(authorize_url(module.client_id, response_mode=mode))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request"
    assert query["error_description"] == "Unsupported 'response_mode'."
    assert "code" not in query


def test_query_mode_is_the_default_and_can_be_named(signed_in):
    module = register_module()
    for nonce, extra in (("n-1", {}), ("n-2", {"response_mode": "query"})):
        response = signed_in.get(authorize_url(module.client_id, nonce=nonce, **extra))
        assert response.status_code == 302
        assert "code" in query_of(response.headers["Location"])


def test_prompt_consent_shows_the_consent_page_even_to_a_first_party_module(signed_in):
    module = register_module(skip_consent=True)

    def answer(nonce: str, decision: str) -> dict:
        page = signed_in.get(authorize_url(module.client_id, prompt="consent", nonce=nonce))
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'name="decision"' in html
        action = unescape(re.search(r'<form[^>]*action="([^"]*/authorize/consent[^"]*)"',
                                    html).group(1))
        sent = signed_in.post(action, data={"csrf_token": csrf_token(html),
                                            "decision": decision})
        assert sent.status_code == 302
        return query_of(sent.headers["Location"])

    assert "code" in answer("n-allow", "allow")
    assert answer("n-deny", "deny")["error"] == "access_denied"
    # Without prompt=consent the first-party module goes straight back.
    response = signed_in.get(authorize_url(module.client_id, nonce="n-plain"))
    assert "code" in query_of(response.headers["Location"])


def test_prompt_consent_with_none_is_invalid_request(signed_in):
    module = register_module()
    response = signed_in.get(authorize_url(module.client_id, prompt="none consent"))
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
