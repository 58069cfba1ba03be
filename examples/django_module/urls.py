"""The module's URLs; mozilla-django-oidc's under /oidc/ (the redirect URI to register at
the IdP is /oidc/callback/, the post-logout redirect URI /logged-out/)."""

from django.urls import include
from django.urls import path

from examples.django_module import views

urlpatterns = [
    path("", views.home, name="home"),
    path("refused/", views.refused, name="refused"),
    path("logged-out/", views.logged_out, name="logged_out"),
    path("oidc/", include("mozilla_django_oidc.urls")),
]
