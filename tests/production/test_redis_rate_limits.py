"""Rate limits are counted in Redis, across workers (SECURITY-CHECKLIST LOGIN-08)."""

import pytest

from tests.conftest import login
from tests.production.conftest import build_app


@pytest.fixture
def app_environ(app_environ):
    app_environ["IDP_RATELIMIT_LOGIN_IDENTIFIER"] = "3/minute"
    return app_environ


def test_identifier_limit_is_shared_by_two_workers(app, app_environ, limiter_prefix, make_user):
    make_user("limited")
    other_worker = build_app(app_environ, limiter_prefix)
    first, second = app.test_client(), other_worker.test_client()
    statuses = [
        login(first, "limited", "wrong-password-1").status_code,
        login(second, "limited", "wrong-password-2").status_code,
        login(first, "limited", "wrong-password-3").status_code,
        login(second, "limited", "wrong-password-4").status_code,
    ]
    with other_worker.app_context():
        from idp.extensions import db

        db.engine.dispose()
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
