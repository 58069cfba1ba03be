"""The interactive pages: login, its steps, home page and logout."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from idp.auth import account  # noqa: E402,F401
from idp.auth import first_connection  # noqa: E402,F401
from idp.auth import forgot_password  # noqa: E402,F401
from idp.auth import home  # noqa: E402,F401
from idp.auth import login  # noqa: E402,F401
from idp.auth import logout  # noqa: E402,F401
from idp.auth import password_change  # noqa: E402,F401
