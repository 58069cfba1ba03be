"""PostgreSQL dropping a connection between a view's last query and the end of its
request (docs/deployment.md, « PostgreSQL »): the view's answer stands.

The soak (test_soak.py) met it on userinfo, a view that only reads: its transaction
was still open when the request ended, and ending it on the dropped connection
turned the answer into a 500.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from idp.extensions import db
from tests import backends


def test_a_connection_dropped_after_the_view_leaves_its_answer_alone(app, pg_url, caplog):
    def read_then_lose():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(backends.psycopg_url(pg_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return "read"

    app.add_url_rule("/read-then-lose", view_func=read_then_lose)
    response = app.test_client().get("/read-then-lose")
    assert response.status_code == 200
    assert response.text == "read"
    assert "database session ended on a lost connection" in caplog.text
    with db.engine.connect() as conn:  # the pool gave the dead connection up
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
