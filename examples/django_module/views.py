"""The module's pages: one protected page, and where logging in or out ends."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from examples.django_module.auth import HABILITATION_CODES


@login_required
def home(request):
    """The protected page: who is logged in, with their habilitation codes."""
    return render(request, "django_module/home.html", {
        "habilitation_codes": request.session.get(HABILITATION_CODES, []),
    })


def refused(request):
    """LOGIN_REDIRECT_URL_FAILURE: the IdP or this module refused the login."""
    return render(request, "django_module/refused.html", status=403)


def logged_out(request):
    """LOGOUT_REDIRECT_URL, the post_logout_redirect_uri: back from the IdP's logout."""
    return render(request, "django_module/logged_out.html")
