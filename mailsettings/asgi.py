"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from mailsettings.startup import require_keys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailsettings.settings")
# Without its keys the process stops here with one line saying what to set.
require_keys()
application = get_asgi_application()
