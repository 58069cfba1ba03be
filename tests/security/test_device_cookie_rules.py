"""The device cookie's own rules (idp.security.devices), called directly.

What the cookie carries (the login and a fresh 128-bit nonce, signed with the
app's key under its own salt), which values name a device (valid signature, at
most 365 days old, the login typed, a non-empty string nonce, at most 512
characters), and the key of the device's failure counter.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer

from idp.security import devices

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NONCE = "c2VjcmV0LW5vbmNlLTEyMw"


def signed(app, payload) -> str:
    """A value signed exactly as the IdP signs its device cookies."""
    return URLSafeTimedSerializer(app.secret_key, salt="device-cookie").dumps(payload)


def test_a_cookie_names_the_login_and_a_fresh_128_bit_nonce(app):
    with time_machine.travel(START, tick=False):
        values = [devices.issue("jdupont") for _ in range(3)]
    reader = URLSafeTimedSerializer(app.secret_key, salt="device-cookie")
    payloads = [reader.loads(value) for value in values]
    for payload in payloads:
        assert set(payload) == {"login", "nonce"}
        assert payload["login"] == "jdupont"
        assert len(payload["nonce"]) == 22  # 16 random bytes, base64url
    assert len({payload["nonce"] for payload in payloads}) == 3
    with time_machine.travel(START, tick=False):
        assert [devices.nonce_for(value, "jdupont") for value in values] == \
            [payload["nonce"] for payload in payloads]


def test_a_cookie_is_signed_under_its_own_salt(app):
    value = devices.issue("jdupont")
    other_purpose = URLSafeTimedSerializer(app.secret_key, salt="itsdangerous")
    with pytest.raises(Exception, match="Signature"):
        other_purpose.loads(value)
    assert devices.nonce_for(other_purpose.dumps({"login": "jdupont", "nonce": NONCE}),
                             "jdupont") is None


@pytest.mark.parametrize("value", [None, ""])
def test_no_cookie_names_no_device(app, value):
    assert devices.nonce_for(value, "jdupont") is None


def test_a_cookie_names_one_login_only(app):
    value = signed(app, {"login": "jdupont", "nonce": NONCE})
    assert devices.nonce_for(value, "jdupont") == NONCE
    assert devices.nonce_for(value, "mmartin") is None


@pytest.mark.parametrize("payload", [
    ["jdupont", NONCE],
    {"login": "jdupont", "nonce": ""},
    {"login": "jdupont", "nonce": 12345},
    {"login": "jdupont"},
], ids=["not-a-dict", "empty-nonce", "number-nonce", "no-nonce"])
def test_a_signed_value_without_a_usable_nonce_names_no_device(app, payload):
    assert devices.nonce_for(signed(app, payload), "jdupont") is None


@pytest.mark.parametrize(("age", "known"), [
    (timedelta(days=365), True),
    (timedelta(days=365, seconds=1), False),
], ids=["365d", "365d+1s"])
def test_a_cookie_lasts_365_days(app, age, known):
    with time_machine.travel(START, tick=False):
        value = devices.issue("jdupont")
    with time_machine.travel(START + age, tick=False):
        assert (devices.nonce_for(value, "jdupont") is not None) is known


def _signed_of_length(app, length: int) -> tuple[str, str]:
    """(value, login): a valid cookie exactly ``length`` characters long."""
    rng = random.Random(length)
    for _ in range(5000):
        login = "".join(rng.choice(string.ascii_lowercase + string.digits)
                        for _ in range(rng.randrange(400, 520)))
        value = signed(app, {"login": login, "nonce": NONCE})
        if len(value) == length:
            return value, login
    raise AssertionError(f"no cookie of {length} characters found")


# A signed value is never 513 characters long (its base64 parts skip that length).
@pytest.mark.parametrize(("length", "read"), [(512, True), (514, False)])
def test_a_cookie_longer_than_512_characters_is_not_read(app, length, read):
    with time_machine.travel(START, tick=False):
        value, login = _signed_of_length(app, length)
        assert devices.nonce_for(value, login) == (NONCE if read else None)


def test_the_failure_counter_key_is_a_keyed_hash_of_the_nonce(app):
    key = hashlib.sha256(f"device-throttle:{app.secret_key}".encode()).digest()
    expected = hmac.new(key, NONCE.encode(), hashlib.sha256).hexdigest()
    assert devices.counter_key(NONCE) == expected
    assert devices.counter_key("another-nonce") != expected
