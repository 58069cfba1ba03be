"""The login state machine's rules, called directly (idp.auth.flow): which steps are
asked and in which order, which ``next`` is kept, and the probe that lets the secret
question refuse an answer containing the new password."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from flask import session

from idp.auth import flow
from idp.models import LoginFlow

NEW_PASSWORD = "Girafe-Parapluie-Ocean-93"


@pytest.mark.parametrize(("reason", "has_secrets", "first_connection", "steps"), [
    (None, True, False, []),
    ("expired", True, False, ["password_change"]),
    ("provisional", True, False, ["password_change"]),
    (None, False, False, ["secret_question"]),
    (None, True, True, ["captcha"]),
    ("provisional", False, False, ["password_change", "secret_question"]),
    ("provisional", False, True, ["password_change", "secret_question", "captcha"]),
])
def test_the_steps_asked_follow_the_guides_order(reason, has_secrets, first_connection, steps):
    user = SimpleNamespace(has_secrets=has_secrets)
    assert flow.pending_steps(user, reason, first_connection) == steps


@pytest.mark.parametrize("target", [
    "/", "/?module=demo", "/authorize?client_id=X-Module&state=Xyz", "/" + "a" * 3999,
])
def test_a_local_path_is_kept_as_next(target):
    assert flow.safe_next(target) == target


@pytest.mark.parametrize("target", [
    None, "", "evil.example", "https://evil.example/", "//evil.example", "/\\evil.example",
    "/a\\b", "/a\rb", "/a\nb", "/a\tb", "/" + "a" * 4000,
])
def test_anything_else_is_dropped(target):
    assert flow.safe_next(target) is None


def test_the_probe_finds_the_new_password_inside_an_answer(app):
    login_flow = LoginFlow()
    with app.test_request_context():
        flow.remember_password_probe(login_flow, NEW_PASSWORD)
        # The key lives in the cookie only: 256 random bits.
        assert len(base64.urlsafe_b64decode(session["flow_key"])) == 32
        assert login_flow.password_length == len(NEW_PASSWORD)
        assert NEW_PASSWORD.casefold() not in login_flow.password_probe.casefold()
        assert flow.answer_contains_password(login_flow, f"mon {NEW_PASSWORD.upper()} !")
        assert flow.answer_contains_password(login_flow, NEW_PASSWORD)
        assert not flow.answer_contains_password(login_flow, "Rantanplan le chien")
        assert not flow.answer_contains_password(login_flow, NEW_PASSWORD[:-1])


def test_two_flows_never_share_a_key(app):
    first, second = LoginFlow(), LoginFlow()
    with app.test_request_context():
        flow.remember_password_probe(first, NEW_PASSWORD)
        key = session["flow_key"]
        flow.remember_password_probe(second, NEW_PASSWORD)
        assert session["flow_key"] != key
        assert first.password_probe != second.password_probe


def test_without_the_cookies_key_nothing_is_found(app):
    login_flow = LoginFlow()
    with app.test_request_context():
        flow.remember_password_probe(login_flow, NEW_PASSWORD)
    # Another browser (or a cookie from before) holds no key: the probe is useless.
    with app.test_request_context():
        assert not flow.answer_contains_password(login_flow, NEW_PASSWORD)


def test_a_flow_without_probe_never_refuses_an_answer(app):
    # The password was not changed in this flow (a login whose secrets were cleared).
    with app.test_request_context():
        flow.remember_password_probe(LoginFlow(), NEW_PASSWORD)  # a key in the cookie
        assert not flow.answer_contains_password(LoginFlow(), NEW_PASSWORD)
    with app.test_request_context():
        assert not flow.answer_contains_password(LoginFlow(), NEW_PASSWORD)
