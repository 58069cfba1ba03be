"""What the soak (test_soak.py) checks once its load has stopped, and the table of its
figures: the answers by fault window, the access log, and the database through the
in-process app (held refresh tokens, token issuance, lockouts, the audit chain)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Token
from idp.models import User
from idp.oidc.tokens import refresh_hash
from tests.production.soak import Probe
from tests.production.soak import Record
from tests.production.test_command_line import run_idp
from tests.production.test_gunicorn_dependency_failures import access_lines

RECOVERY_LIMIT = 1.0  # seconds from a fault's end to the first success of each kind


@dataclass
class Window:
    fault: str
    started_at: float
    ended_at: float
    recovery: dict = field(default_factory=dict)

    def holds(self, answer) -> bool:
        """Whether the request met the fault or its second after it."""
        return self.started_at <= answer.answered_at and \
            answer.sent_at <= self.ended_at + RECOVERY_LIMIT


class Figures:
    """What the soak measured, and what went wrong (``problems``), for the table."""

    def __init__(self, record: Record, windows: list[Window], seconds: float, title: str):
        self.record, self.windows, self.seconds, self.title = record, windows, seconds, title
        self.problems: list[str] = []
        self.lines: list[str] = []
        self.by_cause: Counter = Counter()
        self.lost_by_cause: Counter = Counter()
        self.per_window: Counter = Counter()  # 5xx and lost answers of each window

    def window_of(self, answer) -> Window | None:
        return next((w for w in self.windows if w.holds(answer)), None)

    def at_cut(self, answer) -> bool:
        """Whether the request was in flight when PostgreSQL went away: what it committed
        may be done without the IdP knowing (the acknowledgement of its COMMIT lost)."""
        return any(w.fault == "PostgreSQL refused" and
                   answer.sent_at < w.started_at <= answer.answered_at for w in self.windows)

    def spent_after_5xx(self) -> None:
        """A code or refresh token refused on its retry after a 5xx: the 5xx had spent it.
        Only a request in flight when PostgreSQL was cut may do that."""
        self.unacknowledged: Counter = Counter()
        for what, first, status in self.record.spent_by_5xx:
            if self.at_cut(first):
                self.unacknowledged[what] += 1
            else:
                self.problems.append(f"{what} answered {first.status} in "
                                     f"{getattr(self.window_of(first), 'fault', None)}, "
                                     f"then refused {status}: committed work answered 5xx")

    def errors_by_cause(self) -> None:
        """5xx only 503, only in a fault's window; answers lost only to a killed worker."""
        for answer in self.record.answers:
            if isinstance(answer.status, int) and answer.status < 500:
                continue
            window = self.window_of(answer)
            cause = window.fault if window else "outside any fault"
            self.per_window[id(window)] += 1
            if isinstance(answer.status, str):
                self.lost_by_cause[cause] += 1
                if cause != "killed worker":
                    self.problems.append(f"{answer.kind} lost ({answer.status}) in {cause}")
            else:
                self.by_cause[f"{cause} {answer.status}"] += 1
                if window is None or answer.status != 503:
                    self.problems.append(f"{answer.kind} answered {answer.status} in {cause}")

    def access_lines(self, server) -> None:
        """Every answer has its access-log line with its status (the 5xx above all)."""
        logged = {request_id: line["status"] for request_id, line in access_lines(server).items()}
        answered = [a for a in self.record.answers if isinstance(a.status, int)]
        missing = [a for a in answered if logged.get(a.request_id) != a.status]
        self.logged = (len(answered) - len(missing), len(answered))
        self.problems += [f"no access line for {a.kind} {a.status}" for a in missing
                          if a.status >= 500]
        self.missing_lines = len(missing)

    def held_tokens(self) -> None:
        """Each refresh token held at the end: live, or revoked for the reason expected."""
        reasons = {"revoked": ("token.revoked", "kind", "refresh_token"),
                   "session_ended": ("token.revoked", "reason", "session_ended"),
                   "code_replayed": ("authorize.code_replayed", None, None),
                   "reuse_detected": ("token.reuse_detected", None, None)}
        self.held = Counter(held.expected for held in self.record.held)
        expected_by_login = Counter((h.login, h.expected) for h in self.record.held)
        for held in self.record.held:
            row = db.session.execute(select(Token).where(
                Token.refresh_hash == refresh_hash(held.refresh_token))).scalar_one_or_none()
            state = ("missing" if row is None else "live" if row.revoked_at is None and
                     row.rotated_at is None else "rotated" if row.revoked_at is None
                     else "revoked")
            wanted = "live" if held.expected == "live" else "revoked"
            if state != wanted:
                self.problems.append(f"{held.expected} token of {held.login} is {state}")
        for (login, expected), count in expected_by_login.items():
            if expected == "live":
                continue
            event, key, value = reasons[expected]
            rows = db.session.execute(select(AuditEvent.details).where(
                AuditEvent.event == event, AuditEvent.login == login)).scalars().all()
            recorded = sum(1 for details in rows if key is None or details.get(key) == value)
            if recorded < count:
                self.problems.append(f"{login}: {count} {expected}, {recorded} {event} rows")

    def codes_and_refreshes(self, client_id: str) -> None:
        """The audit trail's token.issued rows: one per code at most, as many as answered
        (plus those whose answer was lost with a killed worker)."""
        rows = db.session.execute(select(AuditEvent.details).where(
            AuditEvent.event == "token.issued", AuditEvent.client_id == client_id)).scalars().all()
        by_grant = Counter(details.get("grant") for details in rows)
        families = Counter(details.get("family") for details in rows
                           if details.get("grant") == "authorization_code")
        twice = [family for family, count in families.items() if count > 1]
        if twice:
            self.problems.append(f"codes redeemed twice: {twice}")
        counts = self.record.counts
        for grant, what in (("authorization_code", "redemption"), ("refresh_token", "refresh")):
            answered = counts[f"{what} answered"]
            lost = counts[f"{what} lost with a killed worker"] + self.unacknowledged[what]
            if not answered <= by_grant[grant] <= answered + lost:
                self.problems.append(f"{grant}: {by_grant[grant]} issued, {answered} answered")
        self.issued = by_grant

    def lockouts(self, threshold: int) -> None:
        """Each round's wrong passwords are the failures counted; a lock at the threshold.

        A try is reserved (counted) before its password is checked, and its outcome
        (audit rows, lock mail) committed after: a try in flight when PostgreSQL is cut
        counts without its audit rows, and may lock the account without its lock row.
        """
        self.locks = self.lock_failures = self.unrecorded_locks = self.uncertain_rounds = 0
        for done in self.record.lock_rounds:
            rows = db.session.execute(select(AuditEvent.event, AuditEvent.details).where(
                AuditEvent.login == done.login,
                AuditEvent.event.in_(("login.failure", "account.locked")))).all()
            counted = sum(1 for e, d in rows if e == "login.failure"
                          and d.get("reason") == "credentials")
            locks = sum(1 for e, _d in rows if e == "account.locked")
            user = db.session.execute(select(User).where(User.login == done.login)).scalar_one()
            self.locks += locks
            self.lock_failures += counted
            # Tries that may have counted without their audit row.
            uncertain = done.lost + sum(1 for answer in done.refused if self.at_cut(answer))
            locked = user.locked_until is not None
            if not done.failures <= counted <= done.failures + done.lost:
                self.problems.append(f"{done.login}: {done.failures} answered, {counted} counted")
            exact = locks == (counted >= threshold) == locked
            if done.locked_seen != locked or locks > 1 or not (exact or uncertain) or (
                    locked and counted + uncertain < threshold):
                self.problems.append(f"{done.login}: {counted} failures, {locks} locks, "
                                     f"lock shown {done.locked_seen}, locked {locked}")
            self.uncertain_rounds += bool(uncertain)
            self.unrecorded_locks += locked and not locks

    def audit_chain(self, commands: dict) -> None:
        sealed = run_idp(commands, "audit", "seal")
        verified = run_idp(commands, "audit", "verify")
        self.audit = (sealed.stdout + sealed.stderr).strip().splitlines()[-1:] + \
            (verified.stdout + verified.stderr).strip().splitlines()[-1:]
        if sealed.returncode or verified.returncode:
            self.problems.append(f"audit: {sealed.returncode} {verified.returncode} "
                                 f"{verified.stdout} {verified.stderr[-500:]}")

    def latency(self, kind: str) -> float:
        """The slowest success of the kind outside the faults: the load's own latency."""
        return max((a.answered_at - a.sent_at for a in self.record.answers
                    if a.kind == kind and isinstance(a.status, int) and a.status < 400
                    and self.window_of(a) is None), default=0.0)

    def slow_recoveries(self) -> dict:
        """Kinds whose first success after a fault was sent a second or more after its
        end, or answered later than that plus twice the slowest answer of the kind
        outside the faults: the load's own queue, which the clients held up by the
        fault, all sending again at its end, can double."""
        slow = {}
        for w in self.windows:
            for kind, times in w.recovery.items():
                if times is None or times[0] >= RECOVERY_LIMIT or \
                        times[1] >= RECOVERY_LIMIT + 2 * self.latency(kind):
                    slow[(w.fault, kind)] = times
        return slow

    def table(self) -> str:
        answers = self.record.answers
        statuses = Counter(a.status if isinstance(a.status, str) else f"{a.status // 100}xx"
                           for a in answers)
        kinds = Counter(a.kind for a in answers)
        out = [f"[soak] {self.seconds:.0f} s of load, {self.title}",
               f"requests: {len(answers)} ({listed(statuses)})",
               f"by kind: {listed(kinds)}",
               f"access lines: {self.logged[0]} of {self.logged[1]} answers",
               f"faults: {len(self.windows)} ({len({w.fault for w in self.windows})} kinds)",
               "",
               "recovery: seconds from the fault's end to the first success of each kind,",
               "sent / answered (slowest answer of the kind outside the faults: "
               + ", ".join(f"{k} {self.latency(k):.3f}" for k in Probe.KINDS) + ")",
               f"{'fault':<20} {'length s':>8} {'5xx+lost':>8} "
               + " ".join(f"{k:>13}" for k in Probe.KINDS)]
        for w in self.windows:
            recovery = " ".join(f"{w.recovery[k][0]:>6.3f}/{w.recovery[k][1]:.3f}"
                                if w.recovery.get(k) else f"{'none':>13}" for k in Probe.KINDS)
            out.append(f"{w.fault:<20} {w.ended_at - w.started_at:>8.1f} "
                       f"{self.per_window[id(w)]:>8} {recovery}")
        counts = self.record.counts
        out += ["",
                f"5xx by cause (both windows): {listed(self.by_cause)}",
                "answers lost (killed worker): " + str(sum(self.lost_by_cause.values())),
                "what their retries met: " + listed(Counter(
                    {k: n for k, n in counts.items() if "lost with" in k})),
                f"codes redeemed: {counts['redemption answered']} answered, "
                f"{self.issued['authorization_code']} issued; replays refused: "
                f"{counts['replays refused']}",
                f"refreshes: {counts['refresh answered']} answered, "
                f"{self.issued['refresh_token']} issued",
                f"refresh tokens held at the end: {listed(self.held)}",
                f"lockouts: {len(self.record.lock_rounds)} rounds, {self.lock_failures} "
                f"failures counted, {self.locks} locks recorded; {self.uncertain_rounds} rounds "
                "with a try in flight at a PostgreSQL cut or a kill (counted without its "
                f"audit row), {self.unrecorded_locks} of them locked without a lock row",
                "commits whose acknowledgement was lost at a PostgreSQL cut (answered 503, "
                f"done; the retry then refused): {listed(self.unacknowledged)}",
                "audit: " + " / ".join(self.audit),
                f"problems: {len(self.record.findings) + len(self.problems)}"]
        out += [f"  {line}" for line in self.record.findings + self.problems]
        return "\n".join(out)


def listed(counts: Counter) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "none"
