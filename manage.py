#!/usr/bin/env python
"""Django's command-line utility for the mailsettings host project."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailsettings.settings")
    from django.core.management import execute_from_command_line

    from mailsettings.startup import require_keys

    require_keys(sys.argv)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
