"""The WSGI application of the Django module (``gunicorn examples.django_module.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_module.settings")
application = get_wsgi_application()
