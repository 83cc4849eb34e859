"""``manage.py ensure_admin``: make sure an admin account exists, for `make run`."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser if there is none: from DJANGO_SUPERUSER_USERNAME, "
        "DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL when set, otherwise 'admin' "
        "with a random password that is printed once."
    )

    def handle(self, *args, **options):
        user_model = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or "admin@example.com"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")

        existing = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
        if existing.exists() or (
            "DJANGO_SUPERUSER_USERNAME" not in os.environ
            and user_model._default_manager.filter(is_superuser=True).exists()
        ):
            admin = (
                existing.first() or user_model._default_manager.filter(is_superuser=True).first()
            )
            self.stdout.write(
                f"Admin account: {admin.get_username()} (its password was shown when it was "
                "created; change it with: .venv/bin/python manage.py changepassword "
                f"{admin.get_username()})"
            )
            return

        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model._default_manager.create_superuser(
            **{user_model.USERNAME_FIELD: username}, email=email, password=password
        )
        self.stdout.write(self.style.SUCCESS(f"Created the admin account “{username}” ({email})."))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  user name: {username}\n  password:  {password}\n"
                    "  This password is shown only once: write it down."
                )
            )
