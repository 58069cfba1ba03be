"""A Django module that delegates its login to the BonusEco IdP with mozilla-django-oidc.

A minimal Django project: ``settings.py`` (the IdP's endpoints, RS256 with the JWKS, PKCE
S256, the scopes, all from ``DJANGO_MODULE_*`` environment variables), ``auth.py`` (the
authentication backend: users keyed on ``sub``, the habilitation the module requires,
and the RP-initiated logout URL), ``urls.py`` and ``views.py`` (one protected page).

Register it at the IdP, then serve it (``python -m examples.django_module``)::

    idp clients create django-module --name "Module Django" --habilitation bonuseco \\
        --redirect-uri http://127.0.0.1:5005/oidc/callback/ \\
        --post-logout-redirect-uri http://127.0.0.1:5005/logged-out/ --skip-consent
    DJANGO_MODULE_CLIENT_SECRET=<the printed secret> python -m examples.django_module
"""
