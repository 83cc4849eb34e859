"""``manage.py smtp_oauth_connect``: connect a profile's OAuth2 account from a terminal."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from smtpconfig.exceptions import SMTPConfigImproperlyConfigured, TokenRefused
from smtpconfig.models import SMTPProfile
from smtpconfig.providers import device_code
from smtpconfig.providers.oauth import OAuthGrant
from smtpconfig.transport.settings import LoginMethod


class Command(BaseCommand):
    help = (
        "Connect the OAuth2 account of an SMTP profile with the device code flow: prints a "
        "web address and a code to enter there (on any device), waits until you have signed "
        "in, then stores the account's refresh token (encrypted). For a server without a "
        "browser."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--profile", required=True, metavar="NAME", help="Name of the profile to connect."
        )

    def handle(self, *args, profile, **options):
        profile_obj = SMTPProfile.objects.filter(name=profile).first()
        if profile_obj is None:
            raise CommandError(_("There is no SMTP profile named “%(name)s”.") % {"name": profile})
        if (
            profile_obj.auth_method != LoginMethod.OAUTH2
            or profile_obj.oauth_grant != OAuthGrant.REFRESH_TOKEN
        ):
            raise CommandError(
                _(
                    "Profile “%(name)s” does not sign in with a connected OAuth2 account: choose "
                    "OAuth2 and “Connected account” in the admin first."
                )
                % {"name": profile}
            )
        found = profile_obj.oauth_endpoints()
        if not found.device_code_url:
            raise CommandError(_("This provider has no device code endpoint set."))
        timeout = float(profile_obj.timeout)
        try:
            secret = profile_obj.oauth_client_secret
            code = device_code.start(
                found.device_code_url, profile_obj.oauth_client_id, found.scope, timeout
            )
            self.stdout.write(
                _("Open %(url)s and enter the code %(code)s (valid for %(minutes)s minutes).")
                % {
                    "url": code.verification_uri,
                    "code": code.user_code,
                    "minutes": code.expires_in // 60,
                }
            )
            self.stdout.flush()
            token = device_code.wait_for_token(
                code,
                token_url=found.token_url,
                client_id=profile_obj.oauth_client_id,
                client_secret=secret,
                timeout=timeout,
            )
        except TokenRefused as exc:
            raise CommandError(_("The provider refused: %(error)s") % {"error": exc}) from None
        except SMTPConfigImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(
                _("The provider could not be reached: %(error)s") % {"error": exc}
            ) from None
        if not token.refresh_token:
            raise CommandError(
                _(
                    "The provider gave no refresh token: add offline_access to the scopes "
                    "(Microsoft) and connect again."
                )
            )
        profile_obj.oauth_refresh_token = token.refresh_token
        profile_obj.oauth_connected_as = profile_obj.username
        profile_obj.oauth_connected_at = timezone.now()
        profile_obj.save()
        self.stdout.write(
            self.style.SUCCESS(
                _("Connected: profile “%(name)s” now signs in as %(user)s.")
                % {"name": profile_obj.name, "user": profile_obj.username}
            )
        )
