"""``python -m examples.django_module``: create Django's tables, then serve the module on
127.0.0.1 at ``DJANGO_MODULE_PORT`` (5005 by default) with Django's development server."""

import os

from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_module.settings")
if not os.environ.get("DJANGO_MODULE_CLIENT_SECRET"):
    raise SystemExit("DJANGO_MODULE_CLIENT_SECRET manque : le secret que « idp clients create »"
                     " a affiché pour ce module.")
execute_from_command_line(["django", "migrate", "--verbosity", "0"])
execute_from_command_line(["django", "runserver", "--noreload",
                           f"127.0.0.1:{os.environ.get('DJANGO_MODULE_PORT', '5005')}"])
