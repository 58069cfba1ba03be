"""First connection (SPEC 1.1): provisional password, new password, secret question, captcha."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from captcha.audio import AudioCaptcha
from sqlalchemy import func
from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import Challenge
from idp.models import LoginFlow
from idp.models import PasswordHistory
from idp.security import challenges
from idp.security import passwords
from idp.security import secrets
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import post_form
from tests.conftest import reload

PROVISIONAL = "Pr0visoireABCDE"
QUESTION = secrets.QUESTIONS[0]


@pytest.fixture
def newcomer(make_user):
    return make_user("newbie", provisional=PROVISIONAL)


def change_password(client, password=STRONG_PASSWORD):
    return post_form(client, "/password-change",
                     {"new_password": password, "confirmation": password})


def set_secret(client, answer="Rantanplan", question=QUESTION, own=""):
    return post_form(client, "/first-connection/secret-question",
                     {"question": question, "own_question": own, "answer": answer})


@pytest.fixture
def captcha_texts(monkeypatch) -> list[str]:
    """Deterministic captcha texts (the generator is patched; answers are never read back)."""
    issued: list[str] = []

    def next_text() -> str:
        issued.append(f"KMR{len(issued) + 3}TX")
        return issued[-1]

    monkeypatch.setattr(challenges, "_text", next_text)
    return issued


def current_captcha() -> Challenge:
    db.session.expire_all()
    return db.session.execute(
        select(Challenge).where(Challenge.consumed_at.is_(None)).order_by(Challenge.id.desc())
    ).scalars().first()


def answer_captcha(client, text):
    page = client.get("/first-connection/captcha")
    return client.post("/first-connection/captcha",
                       data={"csrf_token": csrf_token(page.text), "text": text})


def reach_captcha(client):
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    assert change_password(client).headers["Location"] == "/first-connection/secret-question"
    assert set_secret(client).headers["Location"] == "/first-connection/captcha"


def test_the_whole_chain_in_the_guides_order(client, newcomer, audit_rows, mailbox, captcha_texts):
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    assert client.get("/password-change").status_code == 200  # a step can be reloaded
    assert change_password(client).headers["Location"] == "/first-connection/secret-question"
    page = client.get("/first-connection/secret-question")
    for label in ("Question secrète", "Réponse secrète", "Autre question"):
        assert label in page.text
    assert set_secret(client).headers["Location"] == "/first-connection/captcha"
    page = client.get("/first-connection/captcha")
    assert "Saisissez les caractères de l&#39;image" in page.text
    assert "Afficher une autre image" in page.text
    assert re.search(r'<img id="captcha-image" src="[^"]+"[^>]*alt="[^"]+"', page.text)
    response = answer_captcha(client, captcha_texts[-1])
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Mes applications" in client.get("/").text
    events = [row.event for row in audit_rows()]
    for event in ("password.changed", "secrets.set", "captcha.passed",
                  "first_connection.completed", "login.success"):
        assert event in events
    user = reload(newcomer)
    assert user.has_secrets
    assert user.password_hash
    assert not user.is_provisional


def test_no_session_before_the_captcha(client, newcomer):
    reach_captcha(client)
    response = client.get("/")
    assert response.status_code == 303
    # No session: the home page sends the user back to the step still to do.
    assert response.headers["Location"] == "/first-connection/captcha"
    with client.session_transaction() as session:
        assert "sid" not in session


@pytest.mark.parametrize("url", [
    "/first-connection/secret-question", "/first-connection/captcha",
    "/first-connection/captcha/image", "/first-connection/captcha/audio",
])
def test_later_steps_send_back_to_the_password_change(client, newcomer, url):
    login(client, "newbie", PROVISIONAL)
    response = client.get(url)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"


def test_earlier_steps_cannot_be_replayed(client, newcomer):
    login(client, "newbie", PROVISIONAL)
    page = client.get("/password-change")
    token = csrf_token(page.text)
    client.post("/password-change", data={"csrf_token": token, "new_password": STRONG_PASSWORD,
                                          "confirmation": STRONG_PASSWORD})
    histories = db.session.execute(select(func.count()).select_from(PasswordHistory)).scalar()
    other = "Autruche-Violon-Cascade-62"
    # The back button re-posts the first step: refused, sent to the current step.
    replay = client.post("/password-change", data={"csrf_token": token, "new_password": other,
                                                   "confirmation": other})
    assert replay.headers["Location"] == "/first-connection/secret-question"
    count = select(func.count()).select_from(PasswordHistory)
    assert db.session.execute(count).scalar() == histories
    assert client.get("/first-connection/captcha").headers["Location"] == (
        "/first-connection/secret-question")


def test_a_step_posted_twice_advances_once(client, newcomer, audit_rows):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    page = client.get("/first-connection/secret-question")
    data = {"csrf_token": csrf_token(page.text), "question": QUESTION, "answer": "Rantanplan"}
    first = client.post("/first-connection/secret-question", data=data)
    second = client.post("/first-connection/secret-question", data=data)
    assert first.headers["Location"] == "/first-connection/captcha"
    assert second.headers["Location"] == "/first-connection/captcha"
    assert len(audit_rows("secrets.set")) == 1


def test_another_users_flow_cannot_be_used(app, newcomer, make_user, client):
    make_user("other", provisional="Autre0ProvisoireX")
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    intruder = app.test_client()
    login(intruder, "other", "Autre0ProvisoireX")
    # The intruder's own flow is at its password change: the newcomer's step is not reachable.
    assert intruder.get("/first-connection/secret-question").headers["Location"] == (
        "/password-change")
    # A forged flow id gets nothing.
    with intruder.session_transaction() as session:
        session["flow"] = "forged-" + "x" * 40
    assert intruder.get("/first-connection/secret-question").headers["Location"] == "/login"


def test_provisional_password_expires(client, newcomer):
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=72, minutes=1), tick=False):
        response = login(client, "newbie", PROVISIONAL)
    assert response.status_code == 200
    assert "J&#39;ai oublié mon mot de passe" in response.text
    assert "a expiré" in response.text


MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_NOT_PROVISIONAL = "Le nouveau mot de passe doit être différent du mot de passe provisoire."
STEPS = {"/password-change", "/first-connection/secret-question", "/first-connection/captcha"}


def has_session(client) -> bool:
    return client.get("/").status_code == 200


def test_first_02_provisional_password_expires_at_the_configured_hour(app, make_user):
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        make_user("newbie", provisional=PROVISIONAL,
                  provisional_expires_at=start + timedelta(hours=72))
        # Used once, then interrupted: it keeps working until its expiry...
        assert login(app.test_client(), "newbie", PROVISIONAL).headers["Location"] == (
            "/password-change")
    with time_machine.travel(start + timedelta(hours=72, seconds=-1), tick=False):
        assert login(app.test_client(), "newbie", PROVISIONAL).headers["Location"] == (
            "/password-change")
    with time_machine.travel(start + timedelta(hours=72), tick=False):
        response = login(app.test_client(), "newbie", PROVISIONAL)
    assert response.status_code == 200
    assert "a expiré" in response.text


def test_first_03_provisional_password_works_until_a_personal_one_is_chosen(app, client,
                                                                             newcomer):
    login(client, "newbie", PROVISIONAL)
    # Interrupted before choosing: the provisional password starts it again, anywhere.
    again = app.test_client()
    assert login(again, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    assert change_password(again).headers["Location"] == "/first-connection/secret-question"
    # A personal password is chosen: from then on the provisional password opens nothing.
    third = app.test_client()
    response = login(third, "newbie", PROVISIONAL)
    assert response.status_code == 200
    assert MSG_INVALID in html.unescape(response.text)
    assert not has_session(third)


def test_first_03_provisional_password_is_refused_as_the_new_one(client, newcomer):
    login(client, "newbie", PROVISIONAL)
    response = change_password(client, PROVISIONAL)
    assert response.status_code == 200
    assert MSG_NOT_PROVISIONAL in html.unescape(response.text)
    assert reload(newcomer).password_hash is None


def test_first_04_interrupted_after_the_new_password_asks_the_rest_captcha_included(
    app, client, newcomer, captcha_texts, audit_rows
):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    # Browser closed; the new password is now the way in, and every step left is asked.
    later = app.test_client()
    assert login(later, "newbie", PROVISIONAL).status_code == 200
    assert login(later, "newbie", STRONG_PASSWORD).headers["Location"] == (
        "/first-connection/secret-question")
    assert not has_session(later)
    assert set_secret(later).headers["Location"] == "/first-connection/captcha"
    assert not has_session(later)
    assert reload(newcomer).first_connection_completed_at is None
    later.get("/first-connection/captcha")
    assert answer_captcha(later, captcha_texts[-1]).headers["Location"] == "/"
    assert has_session(later)
    assert reload(newcomer).first_connection_completed_at is not None
    assert len(audit_rows("first_connection.completed")) == 1


def test_first_04_interrupted_before_the_captcha_asks_the_captcha_again(
    app, client, newcomer, captcha_texts
):
    reach_captcha(client)
    later = app.test_client()
    response = login(later, "newbie", STRONG_PASSWORD)
    assert response.headers["Location"] == "/first-connection/captcha"
    assert later.get("/first-connection/secret-question").headers["Location"] == (
        "/first-connection/captcha")
    assert not has_session(later)
    later.get("/first-connection/captcha")
    assert answer_captcha(later, captcha_texts[-1]).headers["Location"] == "/"
    assert has_session(later)
    # Complete: the next login asks nothing more.
    assert login(app.test_client(), "newbie", STRONG_PASSWORD).headers["Location"] == "/"


def test_first_04_interrupted_after_the_provisional_login_starts_from_the_password_change(
    app, client, newcomer, captcha_texts
):
    login(client, "newbie", PROVISIONAL)
    later = app.test_client()
    assert login(later, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    assert change_password(later).headers["Location"] == "/first-connection/secret-question"
    assert set_secret(later).headers["Location"] == "/first-connection/captcha"
    later.get("/first-connection/captcha")
    assert answer_captcha(later, captcha_texts[-1]).headers["Location"] == "/"
    assert reload(newcomer).first_connection_completed_at is not None


def test_a_reset_after_the_first_connection_asks_only_the_password_change(app, make_user):
    user = make_user("jdupont")
    assert user.first_connection_completed_at is not None
    user.provisional_hash = passwords.hash_password(PROVISIONAL)
    user.is_provisional = True
    user.provisional_expires_at = datetime.now(UTC) + timedelta(hours=72)
    commit()
    browser = app.test_client()
    assert login(browser, "jdupont", PROVISIONAL).headers["Location"] == "/password-change"
    # Interrupted, then started again: still no captcha, the first connection is done.
    browser = app.test_client()
    assert login(browser, "jdupont", PROVISIONAL).headers["Location"] == "/password-change"
    assert change_password(browser, "Autruche-Violon-Cascade-62").headers["Location"] == "/"


def test_secret_answer_rules(client, newcomer):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    for answer, reason in (
        ("abc", "au moins 4 caractères"),
        ("je suis newbie", "identifiant"),
        (f"x{STRONG_PASSWORD.upper()}x", "mot de passe"),
    ):
        response = set_secret(client, answer=answer)
        assert response.status_code == 200
        assert reason in response.text
        # The error and the rules, in the messages group the field points to.
        assert 'aria-describedby="answer-messages"' in response.text
        assert 'id="answer-error"' in response.text
    own = set_secret(client, question=secrets.OTHER_QUESTION, own="court")
    assert "entre 10 et 200" in own.text
    done = set_secret(client, answer="  Élodie   DUPRÉ ", question=secrets.OTHER_QUESTION,
                      own="Qui était ma voisine ?")
    assert done.headers["Location"] == "/first-connection/captcha"
    user = reload(newcomer)
    assert user.secret_question == "Qui était ma voisine ?"
    assert user.secret_answer_hash.startswith("$argon2id$")
    assert secrets.verify_answer(user, "elodie dupre")
    assert not secrets.verify_answer(user, "elodie")


def test_answer_normalisation():
    assert secrets.normalise_answer("  Élodie   DUPRÉ ") == "elodie dupre"
    assert secrets.normalise_answer("Ｃafé") == "cafe"
    assert secrets.normalise_answer("e\u0301cole") == secrets.normalise_answer("école")


def _decoded_session(app, client) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)
    return json.dumps(serializer.loads(cookie.value)) + cookie.value


def test_captcha_answer_never_in_cookie_or_page(app, client, newcomer, captcha_texts):
    reach_captcha(client)
    page = client.get("/first-connection/captcha")
    text = captcha_texts[-1]
    assert text not in _decoded_session(app, client)
    assert text.lower() not in page.text.lower()
    image = client.get(re.search(r'src="([^"]+)"', page.text.split("captcha-image")[1]).group(1)
                       .replace("&amp;", "&"))
    assert image.mimetype == "image/png"
    assert image.headers["Cache-Control"] == "no-store"
    assert text not in _decoded_session(app, client)
    assert text not in str(image.headers)


def test_audio_speaks_the_same_challenge(client, newcomer, monkeypatch, captcha_texts):
    reach_captcha(client)
    client.get("/first-connection/captcha")
    challenge = current_captcha()
    spoken = []
    original = AudioCaptcha.generate

    def recording(self, chars):
        spoken.append("".join(chars))
        return original(self, chars)

    monkeypatch.setattr(AudioCaptcha, "generate", recording)
    audio = client.get("/first-connection/captcha/audio")
    assert audio.status_code == 200
    assert audio.mimetype == "audio/wav"
    assert audio.data[:4] == b"RIFF"
    assert spoken == [captcha_texts[-1]]
    assert current_captcha().id == challenge.id
    assert answer_captcha(client, captcha_texts[-1]).headers["Location"] == "/"


def test_captcha_is_case_insensitive_and_single_use(client, newcomer, captcha_texts):
    reach_captcha(client)
    client.get("/first-connection/captcha")
    text = captcha_texts[-1]
    page = client.get("/first-connection/captcha")
    data = {"csrf_token": csrf_token(page.text), "text": f" {text.lower()} "}
    assert client.post("/first-connection/captcha", data=data).headers["Location"] == "/"
    # Replaying the same answer after success is refused: the session was renewed.
    replay = client.post("/first-connection/captcha", data=data)
    assert replay.status_code == 400
    assert "Le formulaire a expiré" in replay.text


def test_wrong_answers_force_a_new_image(client, newcomer, audit_rows, captcha_texts):
    reach_captcha(client)
    client.get("/first-connection/captcha")
    first, first_text = current_captcha(), captcha_texts[-1]
    for _ in range(3):
        response = answer_captcha(client, "ZZZZZZ")
        assert response.status_code == 200
        assert "ne correspondent pas" in response.text
    assert current_captcha().id != first.id
    assert answer_captcha(client, first_text).status_code == 200  # the old one is dead
    assert len(audit_rows("captcha.failure")) == 4


def test_new_image_on_request(client, newcomer, captcha_texts):
    reach_captcha(client)
    page = client.get("/first-connection/captcha")
    first = captcha_texts[-1]
    client.post("/first-connection/captcha/new", data={"csrf_token": csrf_token(page.text)})
    second = captcha_texts[-1]
    assert second != first
    assert answer_captcha(client, first).status_code == 200
    assert answer_captcha(client, second).headers["Location"] == "/"


def test_captcha_expires(client, newcomer, captcha_texts):
    reach_captcha(client)
    client.get("/first-connection/captcha")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6), tick=False):
        response = answer_captcha(client, captcha_texts[0])
    assert response.status_code == 200
    assert "ne correspondent pas" in response.text


def test_fixed_captcha_text_in_testing(app, client, newcomer):
    app.config["IDP_CAPTCHA_FIXED_TEXT"] = "KM7RT4"
    reach_captcha(client)
    client.get("/first-connection/captcha")
    assert current_captcha().prompt == "KM7RT4"
    assert answer_captcha(client, "km7rt4").headers["Location"] == "/"


def test_no_secret_in_the_audit_trail(client, newcomer, audit_rows, captcha_texts):
    reach_captcha(client)
    client.get("/first-connection/captcha")
    text = captcha_texts[-1]
    answer_captcha(client, text)
    dump = json.dumps([[r.event, r.login, r.details] for r in audit_rows()])
    for secret in (PROVISIONAL, STRONG_PASSWORD, "Rantanplan", "rantanplan", text):
        assert secret not in dump


def flow_probes() -> list[tuple]:
    db.session.expire_all()
    return db.session.execute(
        select(LoginFlow.password_probe, LoginFlow.password_length, LoginFlow.consumed_at)
    ).all()


def test_the_password_probe_is_kept_only_while_the_flow_needs_it(client, newcomer,
                                                                  captcha_texts):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    [(probe, length, _consumed)] = flow_probes()
    # The secret question step refuses an answer containing the new password.
    assert probe
    assert length
    set_secret(client)
    client.get("/first-connection/captcha")
    assert answer_captcha(client, captcha_texts[-1]).headers["Location"] == "/"
    assert [(probe, length) for probe, length, _ in flow_probes()] == [(None, None)]


def test_a_replaced_flow_loses_its_probe(app, client, newcomer):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    # Abandoned at the secret question; a new login (here or elsewhere) replaces it.
    assert login(app.test_client(), "newbie", STRONG_PASSWORD).status_code == 303
    rows = flow_probes()
    assert len(rows) == 2
    assert all(probe is None and length is None for probe, length, _ in rows)
    abandoned = [row for row in rows if row.consumed_at is not None]
    assert len(abandoned) == 1
    # The abandoned browser is sent back to the login page.
    assert client.get("/first-connection/secret-question").headers["Location"] == "/login"
