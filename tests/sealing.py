"""Seal the audit chain in tests: the sealer thread is off under test (idp.audit_sealer),
so a test that reads the chain (``verify_chain``, ``prev_hash``, ``hash``) seals first."""

from __future__ import annotations

from idp import audit
from idp.extensions import db


def seal_audit() -> int:
    """Chain every audit row written so far, as the web processes' sealer does; how many."""
    db.session.commit()  # the test's own transaction: seal() runs transactions of its own
    sealed = audit.seal()
    assert sealed is not None, "another sealer held the lock"
    return sealed
