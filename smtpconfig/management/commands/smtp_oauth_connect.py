"""``manage.py smtp_oauth_connect``: connect a profile's OAuth2 account from a terminal."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from smtpconfig.exceptions import SMTPConfigImproperlyConfigured, TokenRefused
from smtpconfig.models import SMTPProfile
from smtpconfig.providers import device_code
from smtpconfig.providers.oauth import OAuthGrant
from smtpconfig.transport.oauth_client import another_account
from smtpconfig.transport.settings import LoginMethod
from smtpconfig.transport.tokens import Token, TokenRequest, fetch_token

FLOWS = {"device": OAuthGrant.REFRESH_TOKEN, "client-credentials": OAuthGrant.CLIENT_CREDENTIALS}


class Command(BaseCommand):
    help = (
        "Connect the OAuth2 sign-in of an SMTP profile from a terminal. --flow device (the "
        "default for a connected account) prints a web address and a code to enter there "
        "on any device, waits until you have signed in, then stores the account's refresh "
        "token (encrypted). --flow client-credentials (Microsoft 365 app-only) checks that "
        "the tenant, client id and secret give a token. Exit status: 0 connected, 1 the "
        "flow failed, 2 a usage or configuration error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--profile", required=True, metavar="NAME", help="Name of the profile to connect."
        )
        parser.add_argument(
            "--flow",
            choices=sorted(FLOWS),
            help=(
                "device: a person signs in on any device (the default, unless the profile "
                "uses app-only access); client-credentials: app-only access, no person."
            ),
        )

    def handle(self, *args, profile, flow=None, **options):
        profile_obj = SMTPProfile.objects.filter(name=profile).first()
        if profile_obj is None:
            raise CommandError(
                _("There is no SMTP profile named “%(name)s”.") % {"name": profile},
                returncode=2,
            )
        if profile_obj.auth_method != LoginMethod.OAUTH2:
            raise CommandError(
                _(
                    "Profile “%(name)s” does not sign in with OAuth2: choose OAuth2 as its "
                    "sign-in in the admin first."
                )
                % {"name": profile},
                returncode=2,
            )
        if flow is None:
            flow = (
                "client-credentials"
                if profile_obj.oauth_grant == OAuthGrant.CLIENT_CREDENTIALS
                else "device"
            )
        if not profile_obj.oauth_client_id:
            raise CommandError(
                _("Profile “%(name)s” has no client id.") % {"name": profile}, returncode=2
            )
        try:
            if flow == "device":
                token = self._device_code(profile_obj)
            else:
                token = self._client_credentials(profile_obj)
        except TokenRefused as exc:
            raise CommandError(
                _("The provider refused: %(error)s") % {"error": exc}, returncode=1
            ) from None
        except SMTPConfigImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=2) from None
        except OSError as exc:
            raise CommandError(
                _("The provider could not be reached: %(error)s") % {"error": exc}, returncode=1
            ) from None
        profile_obj.oauth_grant = FLOWS[flow]
        if flow == "device":
            if not token.refresh_token:
                raise CommandError(
                    _(
                        "The provider gave no refresh token: add offline_access to the scopes "
                        "(Microsoft) and connect again."
                    ),
                    returncode=1,
                )
            profile_obj.oauth_refresh_token = token.refresh_token
        profile_obj.oauth_account = token.account or profile_obj.username
        profile_obj.oauth_connected_at = timezone.now()
        profile_obj.save()
        self.stdout.write(
            self.style.SUCCESS(
                _("Connected: profile “%(name)s” now signs in as %(user)s.")
                % {"name": profile_obj.name, "user": profile_obj.oauth_account}
            )
        )
        if another_account(token.account, profile_obj.username):
            self.stdout.write(
                self.style.WARNING(
                    _(
                        "The provider signed in %(account)s, not the user name %(user)s: the "
                        "mail server may refuse to send as %(user)s (Microsoft: SendAsDenied)."
                    )
                    % {"account": token.account, "user": profile_obj.username}
                )
            )

    def _device_code(self, profile_obj) -> Token:
        found = endpoints_for(profile_obj, OAuthGrant.REFRESH_TOKEN)
        if not found.device_code_url:
            raise SMTPConfigImproperlyConfigured(
                _("This provider has no device code endpoint set.")
            )
        timeout = float(profile_obj.timeout)
        secret = profile_obj.oauth_client_secret
        code = device_code.start_for(profile_obj, found.device_code_url, found.scope)
        self.stdout.write(
            _("Open %(url)s and enter the code %(code)s (valid for %(minutes)s minutes).")
            % {
                "url": code.verification_uri,
                "code": code.user_code,
                "minutes": max(1, code.expires_in // 60),
            }
        )
        self.stdout.flush()
        return device_code.wait_for_token(
            code,
            token_url=found.token_url,
            client_id=profile_obj.oauth_client_id,
            client_secret=secret,
            timeout=timeout,
        )

    def _client_credentials(self, profile_obj) -> Token:
        found = endpoints_for(profile_obj, OAuthGrant.CLIENT_CREDENTIALS)
        secret = profile_obj.oauth_client_secret
        if not secret:
            raise SMTPConfigImproperlyConfigured(
                _("App-only access needs the client secret: enter it in the admin first.")
            )
        request = TokenRequest(
            token_url=found.token_url,
            client_id=profile_obj.oauth_client_id,
            grant_type=OAuthGrant.CLIENT_CREDENTIALS,
            scope=found.scope,
            client_secret=secret,
        )
        return fetch_token(request, float(profile_obj.timeout))


def endpoints_for(profile_obj, grant: str):
    """The profile's endpoints and scope as they are for ``grant`` (the default scope
    differs between a connected account and app-only access)."""
    saved = profile_obj.oauth_grant
    profile_obj.oauth_grant = grant
    try:
        return profile_obj.oauth_endpoints()
    finally:
        profile_obj.oauth_grant = saved
