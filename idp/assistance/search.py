"""Finding an account by login, email, name or SIRET (the console's search).

Every criterion is a *prefix* match written as a range (``key >= p AND key < p'``
where ``p'`` is ``p`` with its last character incremented), which a plain B-tree
index answers on SQLite and PostgreSQL alike; ``LIKE 'p%'`` would need a
case-sensitive pragma on SQLite and ``text_pattern_ops`` on PostgreSQL. Names
and emails are compared through their search keys (lower case, no accents:
``idp.models.user.search_key``), logins are already normalised, SIRETs are digits.
The total is counted up to ``MAX_COUNTED`` only, so that a one-letter query on
100,000 accounts costs no more than a precise one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from idp.extensions import db
from idp.models import User
from idp.models.user import search_key
from idp.security.identifiers import normalise_login

PER_PAGE = 20
MAX_COUNTED = 1000
MIN_QUERY = 2
MAX_QUERY = 100
SIRET_MIN_DIGITS = 3


@dataclass
class SearchPage:
    query: str
    users: list[User]
    page: int
    pages: int
    total: int
    # True when more than MAX_COUNTED accounts match: « plus de 1 000 ».
    is_capped: bool


def starts_with(column, prefix: str):
    """``column`` begins with ``prefix``, as an index-friendly range.

    The searched columns compare byte by byte on both databases (SQLite's own
    order; the "C" collation on PostgreSQL, ``idp.models.user.byte_ordered``),
    so the range is exactly « begins with » and its index serves it.
    """
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return column >= prefix
    return and_(column >= prefix, column < prefix[:-1] + chr(last + 1))


def criteria(query: str):
    """The OR of the prefix matches a query can mean (None when it means nothing)."""
    key = search_key(query)
    if len(key) < MIN_QUERY:
        return None
    matches = [starts_with(User.email_key, key), starts_with(User.name_key, key)]
    login = normalise_login(query)
    if login:
        matches.append(starts_with(User.login, login))
    words = key.split(" ")
    if len(words) > 1:
        # « Jean Dupont » finds the key « dupont jean » (family name first).
        matches.append(starts_with(User.name_key, " ".join(words[1:] + words[:1])))
    digits = query.replace(" ", "")
    if digits.isdigit() and len(digits) >= SIRET_MIN_DIGITS:
        matches.append(starts_with(User.siret, digits))  # a SIREN finds its SIRETs
    return or_(*matches)


def search_accounts(query: str, page: int = 1, per_page: int = PER_PAGE) -> SearchPage:
    """One page of the accounts matching ``query``, ordered by login."""
    query = (query or "").strip()[:MAX_QUERY]
    where = criteria(query)
    if where is None:
        return SearchPage(query, [], 1, 0, 0, False)
    counted = db.session.execute(
        select(func.count()).select_from(
            select(User.id).where(where).limit(MAX_COUNTED + 1).subquery()
        )
    ).scalar_one()
    total = min(counted, MAX_COUNTED)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    users = db.session.execute(
        select(User).where(where).order_by(User.login)
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return SearchPage(query, list(users), page, pages, total, counted > MAX_COUNTED)
