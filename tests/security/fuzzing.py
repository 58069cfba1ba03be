"""Property-based fuzzing helpers (hypothesis): hostile requests, a state fingerprint,
and the count of cases per endpoint printed in the terminal summary.

The property, for every form and OAuth parameter: never a 5xx, and a refused
request changes nothing. « Nothing » is the fingerprint below: every row of the
tables that hold accounts, sessions and grants, minus what a refusal
legitimately writes:

- ``audit_events``: every failure is audited (that is the point of the trail);
- ``login_throttles`` and the users' ``failed_attempts`` / ``locked_until``: the
  lockout counts failed passwords, wherever they are typed (login, account pages);
- the users' ``reset_failures``, ``reset_failures_since``, ``reset_blocked_until``:
  the forgotten-password procedure counts wrong answers the same way;
- ``challenges``: each refused form shows a fresh sum or captcha, and a wrong
  answer counts against its challenge;
- ``user_sessions.last_seen_at``: the idle timeout restarts with every page an
  open session views, refused or not;
- ``authorization_codes.consumed_at`` / ``family_id``: a code presented at the
  token endpoint is spent first, atomically, whatever check fails after (single
  use, RFC 6749 4.1.2 and 10.5); nothing else about it may change.

Examples are generated with ``derandomize=True`` (the same cases on every run
and in CI) and without the example database, so a run writes no file. The
number of cases per endpoint is printed at the end of the run (``Summary``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from idp.extensions import db

EXCLUDED_TABLES = ("audit_events", "login_throttles", "challenges")
EXCLUDED_COLUMNS = {
    "users": ("failed_attempts", "locked_until", "reset_failures", "reset_failures_since",
              "reset_blocked_until"),
    "user_sessions": ("last_seen_at",),
    "authorization_codes": ("consumed_at", "family_id"),
}


def fingerprint() -> dict:
    """Every row of the tables that matter, minus the columns a refusal may move."""
    db.session.expire_all()
    state = {}
    for name, table in sorted(db.metadata.tables.items()):
        if name in EXCLUDED_TABLES:
            continue
        columns = [c for c in table.columns if c.name not in EXCLUDED_COLUMNS.get(name, ())]
        rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        state[name] = [tuple(row) for row in rows]
    db.session.commit()  # release SQLite's write lock (transactions begin IMMEDIATE)
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


# --- hostile values ---------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Bytes put in a query string or form body as they are (percent garbage, bad UTF-8)."""

    data: bytes


SPECIALS = (
    "", " ", "\x00", "a\x00b", "\x00" * 3, "١٢", "１２", "¹²", "ÉÉÉ", "ＫＭＲ３ＴＸ", "ß" * 9,
    "\u202e", "\ufeff", "\u200b", "İ", "ﬁ", "𝕏𝕐", "%00", "%ff", "' OR 1=1 --", "<script>",
    "{{7*7}}", "../../etc/passwd", "\r\nSet-Cookie: x=1", "[" * 1000, "{" * 300, "null",
    "-1", "0", "²", "٣", "99999999999999999999", "1e20", "NaN", "true", "a" * 65, "é" * 129,
)
RAW_VALUES = (b"%ff%fe", b"%ED%A0%80", b"%C3%28", b"%", b"%zz", b"%00", b"\xff", b"%F4%90%80%80")
# Past every length validator; the longest also past the request size limit (413).
HUGE_LENGTHS = (65, 129, 201, 257, 501, 1025, 4097, 70_000)

# Any code point, surrogates included: they travel percent-encoded (« %ED%A0%80 »).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
huge_text = st.builds(lambda char, length: char * length,
                      st.characters(codec=None, exclude_categories=()),
                      st.sampled_from(HUGE_LENGTHS))


def hostile(good: str = "") -> st.SearchStrategy:
    """A value: unicode of any kind, a known nasty, bytes as they are, or ``good`` spoiled."""
    return st.one_of(
        any_text,
        st.sampled_from(SPECIALS),
        st.sampled_from(RAW_VALUES).map(Raw),
        huge_text,
        any_text.map(lambda extra: good + extra),
        any_text.map(lambda extra: extra + good),
    )


@dataclass
class HostileRequest:
    pairs: list  # (name, value, as_file)
    multipart: bool


@st.composite
def hostile_request(draw, fields: dict, *, keep: tuple = ("csrf_token",)) -> HostileRequest:
    """Each field missing, once or twice, good or hostile; extra parameters; files for fields.

    The ``keep`` fields (the CSRF token) stay good four times in five, so that most
    cases reach the view rather than the CSRF refusal.
    """
    multipart = draw(st.integers(0, 3)) == 0
    pairs = []
    for name, good in fields.items():
        times = draw(st.sampled_from((1, 1, 1, 0, 2)))
        for _ in range(times):
            # Two good values in three: most cases spoil one or two fields at a time.
            keep_good = draw(st.integers(0, 4 if name in keep else 2)) > 0
            value = good if keep_good else draw(hostile(good))
            as_file = multipart and name not in keep and draw(st.integers(0, 5)) == 0
            pairs.append((name, value, as_file))
    extra_names = st.one_of(st.sampled_from(sorted(fields) or ["x"]), any_text)
    for name in draw(st.lists(extra_names, max_size=2)):
        pairs.append((name, draw(hostile()), False))
    return HostileRequest(pairs, multipart)


def replaced(request: HostileRequest, name: str, placeholder: str, value: str) -> HostileRequest:
    """The request with ``name``'s good placeholder replaced by a value known only now
    (a fresh code, the latest refresh token, the CSRF token of a new session)."""
    pairs = [(n, value if n == name and v == placeholder else v, f) for n, v, f in request.pairs]
    return HostileRequest(pairs, request.multipart)


def _as_text(value) -> str:
    if isinstance(value, Raw):
        return value.data.decode("latin-1")
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _encoded(value) -> bytes:
    if isinstance(value, Raw):
        return value.data
    return quote_from_bytes(value.encode("utf-8", "surrogatepass")).encode()


def urlencoded(pairs) -> bytes:
    """A query string or form body, hostile bytes kept as they are."""
    return b"&".join(_encoded(name) + b"=" + _encoded(value) for name, value, _file in pairs)


def send(client, method: str, url: str, request: HostileRequest, *, in_query: bool = False,
         form: HostileRequest | None = None, **kwargs):
    """Send the hostile request: in the query string, or as a form (urlencoded or multipart);
    ``in_query`` with ``form``: both, as a form posted to a URL with parameters."""
    if form is not None:
        kwargs.update(data=urlencoded(form.pairs), content_type="application/x-www-form-urlencoded")
    if in_query or method == "GET":
        query = urlencoded(request.pairs).decode("latin-1")
        return client.open(url, method=method, environ_overrides={"QUERY_STRING": query},
                           **kwargs)
    if request.multipart:
        data = [(_as_text(name), (io.BytesIO(_as_text(value).encode()), "champ.txt")
                 if as_file else _as_text(value)) for name, value, as_file in request.pairs]
        return client.open(url, method=method, data=_multidict(data),
                           content_type="multipart/form-data", **kwargs)
    return client.open(url, method=method, data=urlencoded(request.pairs),
                       content_type="application/x-www-form-urlencoded", **kwargs)


def _multidict(items) -> MultiDict:
    return MultiDict(items)


def path_segment(value) -> str:
    """A value as one segment of a URL path (percent-encoded; raw bytes as they are)."""
    if isinstance(value, Raw):
        return value.data.decode("latin-1")
    return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")


def multipart_with_file(request: HostileRequest, name: str, content: bytes,
                        filename: str) -> MultiDict:
    """The request's fields as text, plus one uploaded file."""
    items = [(_as_text(field), _as_text(value)) for field, value, _file in request.pairs]
    items.append((name, (io.BytesIO(content), filename)))
    return MultiDict(items)


# --- the property and the count ---------------------------------------------------------


# No shrinking: a failing case is printed as generated, and derandomize replays it;
# shrinking a stateful failure would cost more than the whole run.
FUZZ_SETTINGS = settings(
    max_examples=25, derandomize=True, deadline=None, database=None, print_blob=False,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)


class Summary:
    """A pytest plugin registered on first use: the cases run per endpoint."""

    def __init__(self):
        self.cases: Counter = Counter()

    def pytest_terminal_summary(self, terminalreporter):
        if not self.cases:
            return
        terminalreporter.section("fuzzing: cases per endpoint")
        for endpoint, cases in sorted(self.cases.items()):
            terminalreporter.write_line(f"{cases:6d}  {endpoint}")
        terminalreporter.write_line(f"{sum(self.cases.values()):6d}  in all")


def summary(config) -> Summary:
    plugin = config.pluginmanager.get_plugin("fuzz-summary")
    if plugin is None:
        plugin = Summary()
        config.pluginmanager.register(plugin, "fuzz-summary")
    return plugin


def check_property(config, endpoint: str, strategy, act: Callable, *,
                   accepted: Callable = lambda response: False,
                   prepare: Callable | None = None, max_examples: int | None = None) -> None:
    """Run ``act(case)`` on generated cases: never a 5xx; unless ``accepted(response)``,
    the fingerprint is unchanged. ``prepare()`` runs before each case (state to reach)."""
    cases = summary(config).cases
    chosen = FUZZ_SETTINGS if max_examples is None else settings(
        FUZZ_SETTINGS, max_examples=max_examples)

    @chosen
    @given(strategy)
    def run(case):
        if prepare is not None:
            prepare()
        before = fingerprint()
        response = act(case)
        cases[endpoint] += 1
        assert response.status_code < 500, f"{endpoint}: {response.status_code}"
        if not accepted(response):
            changed = changed_tables(before, fingerprint())
            assert not changed, f"{endpoint}: refused ({response.status_code}), changed {changed}"

    run()
