"""The audit chain on the embedded SQLite, with concurrent writers (SPEC 4, 5)."""

import threading

from sqlalchemy import func
from sqlalchemy import select

from idp import audit
from idp.extensions import db
from idp.models import AuditEvent


def test_chain_stays_linear_under_concurrent_writers(app):
    db.session.commit()  # the test's own transaction must not hold SQLite's writer lock
    barrier = threading.Barrier(6)

    def writer(index: int) -> None:
        with app.app_context():
            barrier.wait()
            for n in range(10):
                audit.record("test.concurrent", login=f"writer-{index}", n=n)
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    count = db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "test.concurrent")
    ).scalar_one()
    assert count == 60
    assert audit.verify_chain() is None


def test_a_secret_cannot_be_written_to_the_audit(app):
    for key in ("password", "secret_answer", "access_token", "captcha_text"):
        try:
            audit.record("test.secret", **{key: "x"})
        except ValueError:
            continue
        raise AssertionError(f"{key} accepted in the audit trail")
