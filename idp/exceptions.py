"""The one base of the refusals the IdP explains: ``IdpError``.

A refusal carries the French sentence shown to whoever asked (``str(error)``)
and the HTTP status of the page that shows it. Views that show the refusal on
their own form catch it; otherwise it is mapped once, in one place each:

- pages: ``idp.errors`` renders the French error page with ``status``;
- the command line: ``idp.cli.common.guarded`` prints it on one line, exit
  status 2;
- OAuth endpoints: ``oauth_error`` names the RFC 6749 error code
  (``idp.oidc.grants``).

Configuration errors at start-up (``config.ConfigError``) come before any of
this exists and stay apart.
"""

from __future__ import annotations


class IdpError(Exception):
    """A refusal: ``message`` (French) for the person, ``status`` for the page."""

    status: int = 400
    message: str = "La demande n'a pas pu être traitée."
    oauth_error: str = "invalid_request"

    def __init__(self, message: str | None = None):
        super().__init__()
        if message is not None:
            self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(IdpError):
    """Bad input (an identifier, an e-mail address, a date...); the message says which."""
