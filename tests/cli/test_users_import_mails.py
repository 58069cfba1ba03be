"""The welcome mails of an import (`idp users import`, the console's import) leave over a
few reused SMTP connections at once, while the next lines are created; each line is
reported in order, with the mails of its own that failed; a kept connection the relay has
closed is replaced (idp.mail, idp.assistance.importer)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from dataclasses import field

import pytest
from aiosmtpd.controller import Controller

from idp import mail
from tests.conftest import free_port

REFUSED = "refused@example.test"
# A relay's time to accept one mail (checks, queue write): what makes an import slow.
DELAY = 0.05


@dataclass
class SlowRelay:
    """An SMTP server taking DELAY per mail; counts connections and mails in flight."""

    received: list = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == REFUSED:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(DELAY)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.in_flight -= 1
            self.received.append(message)
        return "250 OK"


@pytest.fixture
def relay(app):
    handler = SlowRelay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(IDP_MAIL_SERVER="127.0.0.1", IDP_MAIL_PORT=controller.port)
    yield handler
    mail.wait_until_sent()
    controller.stop()


def test_an_imports_mails_share_connections_and_leave_together(runner, relay, tmp_path):
    logins = [f"compte{i:02d}" for i in range(24)]
    lines = [f"{login},{login}@example.test,Prénom,Nom,bonuseco" for login in logins]
    lines[5] = f"compte05,{REFUSED},Prénom,Nom,bonuseco"
    path = tmp_path / "comptes.csv"
    path.write_text("login,email,given_name,family_name,habilitations\n" + "\n".join(lines))

    result = runner.invoke(args=["users", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:-1] == [
        f"[{i + 1}/24] ligne {i + 2} : {login} créé" for i, login in enumerate(logins)]
    assert result.stderr.splitlines() == [
        "Attention : ligne 7 (compte05) : 2 mail(s) n'ont pas pu être envoyés."]
    delivered = sorted(message["To"] for message in relay.received)
    assert delivered == sorted(2 * [f"{login}@example.test" for login in logins
                                    if login != "compte05"])
    # A connection carries many mails, and several carry them at once.
    assert 0 < relay.connections < 46 / 2
    assert relay.most_in_flight > 1


def test_each_address_gets_its_two_mails_in_order(runner, relay, tmp_path):
    path = tmp_path / "comptes.csv"
    path.write_text("login,email,given_name,family_name\n" + "\n".join(
        f"ordre{i},ordre{i}@example.test,Prénom,Nom" for i in range(8)))

    assert runner.invoke(args=["users", "import", str(path)]).exit_code == 0

    for i in range(8):
        first, second = [m for m in relay.received if m["To"] == f"ordre{i}@example.test"]
        assert "Mot de passe provisoire" not in first.get_body().get_content()
        assert "Mot de passe provisoire" in second.get_body().get_content()


@dataclass
class ClosingRelay(SlowRelay):
    """A relay that hangs up a moment after each mail, like one whose idle timeout is short."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        answer = await super().handle_DATA(server, session, envelope)
        asyncio.get_running_loop().call_later(0.01, server.transport.close)
        return answer


def test_a_kept_connection_the_relay_closed_is_replaced(app, runner, tmp_path):
    handler = ClosingRelay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(IDP_MAIL_SERVER="127.0.0.1", IDP_MAIL_PORT=controller.port)
    try:
        result = runner.invoke(args=["users", "create", "relais", "--email",
                                     "relais@example.test", "--given-name", "Rémi",
                                     "--family-name", "Relais"])
    finally:
        mail.wait_until_sent()
        controller.stop()

    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no mail reported undelivered
    assert [m["To"] for m in handler.received] == ["relais@example.test"] * 2
    assert handler.connections == 2  # the second mail on a new connection
