"""WSGI entry point (gunicorn mailsettings.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from mailsettings.startup import require_keys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailsettings.settings")
# Without its keys the process stops here with one line saying what to set.
require_keys()
application = get_wsgi_application()
