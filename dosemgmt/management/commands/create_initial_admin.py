"""Gives a fresh embedded install a first login, so the newcomer can sign in."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password when no user exists yet."

    def handle(self, *args, **options):
        User = get_user_model()
        password_file = settings.DATA_DIR / "initial-admin-password"
        if User.objects.exists():
            if password_file.exists():
                self.stdout.write(f"First login: user 'admin', password in {password_file}")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", email="", password=password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(f"Created user 'admin' with password {password} (also in {password_file}).")
        )
        self.stdout.write("Change it after the first login, under Admin → Users.")
