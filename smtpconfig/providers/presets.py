"""Provider presets: one table of data, read by the admin page, the diagnosis and the tests.

Each entry holds the provider's documented submission settings, how to log
in today, and the error replies the provider is known for, with their fix.
Sources are the providers' own help pages, linked from each entry (checked
2026-11); the Microsoft 365 note follows Microsoft's Message Center post
MC786329 as updated on 2026-01-27.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..transport.settings import Security


@dataclass(frozen=True)
class KnownError:
    """A provider reply (matched by regular expression) and what it really means."""

    pattern: str
    problem: str
    fix: str
    field: str = "password"
    #: The reply is the provider's own wording, recognised whatever the host is called
    #: (a relay or an alias name in front of the provider's servers).
    distinctive: bool = False

    def matches(self, reply: str) -> bool:
        return re.search(self.pattern, reply, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Preset:
    """One provider's submission settings and login rules."""

    key: str
    label: str
    host: str = ""
    port: int = 587
    security: str = Security.STARTTLS
    alternative_port: int | None = None
    alternative_security: str | None = None
    #: "address" (the full email address), a literal such as "apikey", or "" (no rule).
    username_rule: str = "address"
    login_note: str = ""
    help_url: str = ""
    domains: tuple[str, ...] = ()
    #: Host-name suffixes that identify the provider's servers.
    host_suffixes: tuple[str, ...] = ()
    #: MX host suffixes that show a domain's mail is hosted by this provider.
    mx_suffixes: tuple[str, ...] = ()
    #: What the sender domain's SPF record includes to authorize this provider.
    spf_include: str = ""
    #: Regional servers: (label, host); the first is the default.
    regions: tuple[tuple[str, str], ...] = ()
    known_errors: tuple[KnownError, ...] = field(default_factory=tuple)
    #: How the preset signs in: "password" or "oauth2" (a ``LoginMethod`` value).
    auth_method: str = "password"
    #: With OAuth2: the provider, tenant and grant (``oauth_*`` profile fields) it fills in.
    oauth_provider: str = ""
    oauth_tenant: str = ""
    oauth_grant: str = ""

    def sign_in(self) -> dict[str, str]:
        """The profile's sign-in fields this preset fills in (only those it has values for)."""
        values = {
            "auth_method": self.auth_method,
            "oauth_provider": self.oauth_provider,
            "oauth_tenant": self.oauth_tenant,
            "oauth_grant": self.oauth_grant,
        }
        return {name: value for name, value in values.items() if value}

    @property
    def port_note(self) -> str:
        """Why the preset's port is the one chosen, when the provider offers both.

        Implicit TLS (465) starts encrypting with the first byte; STARTTLS (587)
        first greets in clear text, asks to upgrade and says EHLO again: two more
        round trips on every new connection (a connection and one message took 23%
        less with implicit TLS against a server 20 ms away:
        ``benchmarks/bench_tls_modes.py``).
        """
        if self.port == 465 and self.alternative_port == 587:
            return str(_IMPLICIT_TLS_NOTE)
        return ""

    @property
    def note(self) -> str:
        """What the form shows under the chosen provider: the login note, then the port's."""
        return " ".join(part for part in (str(self.login_note), self.port_note) if part)

    def host_for(self, region: str = "") -> str:
        """The host for ``region`` (a region's host or label), or the default host."""
        for label, host in self.regions:
            if region in (label, host):
                return host
        return self.host

    def as_dict(self) -> dict:
        """What the admin page's script needs, with translated text."""
        return {
            "key": self.key,
            "label": str(self.label),
            "host": self.host,
            "port": self.port,
            "security": str(self.security),
            "alternative_port": self.alternative_port,
            "alternative_security": self.alternative_security and str(self.alternative_security),
            "username_rule": self.username_rule,
            "login_note": str(self.login_note),
            "port_note": self.port_note,
            "help_url": self.help_url,
            "regions": [[str(label), host] for label, host in self.regions],
            "sign_in": self.sign_in(),
        }


_IMPLICIT_TLS_NOTE = _(
    "Port 465 with SSL/TLS is chosen because it is encrypted from the first byte: it "
    "saves the two extra round trips STARTTLS needs, about a quarter of the time of each "
    "new connection. If your network blocks port 465, use 587 with STARTTLS."
)

_GOOGLE_APP_PASSWORD_FIX = _(
    "Turn on 2-Step Verification for the Google account, create an app password at "
    "https://myaccount.google.com/apppasswords and enter that 16-letter password here. "
    "Google no longer offers “less secure app access”; do not turn 2-Step Verification off."
)

_MICROSOFT_OAUTH_HELP = (
    "https://learn.microsoft.com/exchange/client-developer/legacy-protocols/"
    "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"
)

PRESETS: tuple[Preset, ...] = (
    Preset(
        key="gmail",
        label=_("Gmail / Google Workspace"),
        host="smtp.gmail.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use your full Gmail address as the user name. Google takes an app password "
            "(this choice) or OAuth2 (choose “Gmail / Google Workspace with OAuth2”); your "
            "normal Google password is refused. An app password needs 2-Step Verification on "
            "the account, is not offered when it signs in with security keys only or is in "
            "Advanced Protection, and stops working when the account's password changes. "
            "OAuth2 needs an app registered in the Google Cloud console with the scope "
            "https://mail.google.com/, and published: an app left in “Testing” gets refresh "
            "tokens that expire after 7 days."
        ),
        # https://support.google.com/mail/answer/7126229 (settings),
        # https://support.google.com/accounts/answer/185833 (app passwords)
        help_url="https://support.google.com/accounts/answer/185833",
        domains=("gmail.com", "googlemail.com"),
        host_suffixes=("gmail.com", "google.com", "googlemail.com"),
        # Google Workspace MX: aspmx.l.google.com and friends, or smtp.google.com (2023+).
        mx_suffixes=("google.com", "googlemail.com"),
        spf_include="_spf.google.com",
        known_errors=(
            KnownError(
                r"5\.7\.9|application-specific password",
                _("Google requires an app password for this account."),
                _GOOGLE_APP_PASSWORD_FIX,
                distinctive=True,
            ),
            KnownError(
                r"BadCredentials|Username and Password not accepted",
                _(
                    "Google did not accept the user name and password. A normal Google "
                    "password is always refused here."
                ),
                _GOOGLE_APP_PASSWORD_FIX,
                distinctive=True,
            ),
        ),
    ),
    Preset(
        key="gmail_oauth2",
        label=_("Gmail / Google Workspace with OAuth2"),
        host="smtp.gmail.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use the mailbox's full address as the user name and sign in with OAuth2. Register "
            "an app in the Google Cloud console (an OAuth client of the type “Web application” "
            "with the redirect URI shown on this page once saved) with the scope "
            "https://mail.google.com/, and publish it: an app left in “Testing” gets refresh "
            "tokens that expire after 7 days. Enter its client id and secret, save, then "
            "connect the account. No app password or 2-Step Verification is needed."
        ),
        # https://developers.google.com/gmail/imap/xoauth2-protocol
        help_url="https://developers.google.com/gmail/imap/xoauth2-protocol",
        # No domains or suffixes of its own: detection and known errors are Gmail's.
        auth_method="oauth2",
        oauth_provider="google",
        oauth_grant="refresh_token",
    ),
    Preset(
        key="outlook",
        label=_("Outlook.com / Hotmail"),
        host="smtp-mail.outlook.com",
        port=587,
        security=Security.STARTTLS,
        login_note=_(
            "Use your full Outlook.com address as the user name and sign in with OAuth2: "
            "Outlook.com no longer takes passwords from other apps. OAuth2 needs an app "
            "registered in the Microsoft Entra admin center (App registrations) for personal "
            "Microsoft accounts, with the delegated permissions SMTP.Send (listed under "
            "Microsoft Graph) and offline_access, and a client secret. Enter its client id and "
            "secret, save, then connect the account."
        ),
        # https://support.microsoft.com/office/d088b986-291d-42b8-9564-9c414e2aa040 (settings)
        help_url=_MICROSOFT_OAUTH_HELP,
        domains=("outlook.com", "hotmail.com", "live.com", "msn.com"),
        host_suffixes=("smtp-mail.outlook.com", "hotmail.com", "live.com"),
        # Consumer domains are served by *.olc.protection.outlook.com.
        mx_suffixes=("olc.protection.outlook.com",),
        spf_include="spf.protection.outlook.com",
        auth_method="oauth2",
        oauth_provider="microsoft",
        oauth_tenant="consumers",
        oauth_grant="refresh_token",
        known_errors=(
            KnownError(
                r"basic authentication is disabled|5\.7\.139",
                _("Microsoft refused password sign-in for this account."),
                _(
                    "Microsoft has switched this account to modern sign-in: choose OAuth2 as "
                    "the sign-in and connect the account."
                ),
            ),
        ),
    ),
    Preset(
        key="microsoft365",
        label=_("Microsoft 365 (Exchange Online)"),
        host="smtp.office365.com",
        port=587,
        security=Security.STARTTLS,
        login_note=_(
            "Use the mailbox's full address as the user name and sign in with OAuth2: "
            "Microsoft turns password sign-in for SMTP off by default at the end of December "
            "2026. OAuth2 needs an app registered in the Microsoft Entra admin center (App "
            "registrations) with the delegated permissions SMTP.Send (listed under Microsoft "
            "Graph) and offline_access, and a client secret (it expires: note the date); "
            "save, then connect the account. App-only access uses the Office 365 Exchange "
            "Online permission SMTP.SendAsApp and your tenant id instead. Either way an "
            "administrator must allow “Authenticated SMTP” for the mailbox (Microsoft 365 "
            "admin center › Users › Mail › Manage email apps)."
        ),
        # https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/
        #   authenticated-client-smtp-submission ; Message Center MC786329; OAuth2: the
        #   "Authenticate an IMAP, POP or SMTP connection using OAuth" page below.
        help_url=_MICROSOFT_OAUTH_HELP,
        host_suffixes=("office365.com", "outlook.office.com", "protection.outlook.com"),
        # A tenant's MX is <tenant>.mail.protection.outlook.com.
        mx_suffixes=("mail.protection.outlook.com",),
        spf_include="spf.protection.outlook.com",
        auth_method="oauth2",
        oauth_provider="microsoft",
        oauth_tenant="organizations",
        oauth_grant="refresh_token",
        known_errors=(
            KnownError(
                r"5\.7\.139|SmtpClientAuthentication is disabled|basic authentication is disabled",
                _(
                    "Microsoft 365 refused the login: SMTP AUTH (password sign-in for SMTP) is "
                    "disabled for this mailbox or the whole tenant."
                ),
                _(
                    "An administrator must enable Authenticated SMTP for the mailbox "
                    "(Microsoft 365 admin center › Users › Mail › Manage email apps) and make "
                    "sure security defaults do not block it. If basic authentication is off for "
                    "good, use OAuth2 or a relay service such as your provider's."
                ),
                distinctive=True,
            ),
            KnownError(
                r"5\.7\.3|Authentication unsuccessful",
                _("Microsoft 365 did not accept the user name and password."),
                _(
                    "Check the password; if the account uses multi-factor authentication, an "
                    "app password (where your tenant allows them) or OAuth2 is needed."
                ),
            ),
            KnownError(
                r"5\.7\.60|SendAsDenied|not allowed to send as",
                _("Microsoft 365 does not let this mailbox send as the sender address."),
                _(
                    "Set the sender to the mailbox's own address, or give the mailbox "
                    "“Send As” permission for the sender in the Exchange admin center."
                ),
                field="from_email",
                distinctive=True,
            ),
        ),
    ),
    Preset(
        key="yahoo",
        label=_("Yahoo Mail"),
        host="smtp.mail.yahoo.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use your full Yahoo address as the user name and an app password as the "
            "password: Account info › Account security › Generate app password. Your "
            "normal Yahoo password is refused."
        ),
        # https://help.yahoo.com/kb/SLN4075.html (settings), SLN15241 (app passwords)
        help_url="https://help.yahoo.com/kb/SLN15241.html",
        domains=("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr"),
        host_suffixes=("yahoo.com", "yahoodns.net"),
        mx_suffixes=("yahoodns.net",),
        known_errors=(
            KnownError(
                r"535",
                _("Yahoo did not accept the user name and password."),
                _(
                    "Yahoo needs an app password for other programs: create one under "
                    "Account info › Account security › Generate app password and enter it here."
                ),
            ),
        ),
    ),
    Preset(
        key="aol",
        label=_("AOL Mail"),
        host="smtp.aol.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use your full AOL address as the user name and an app password as the "
            "password: Account info › Account security › Generate app password."
        ),
        # https://help.aol.com/articles/how-do-i-use-other-email-applications-to-send-and-receive-my-aol-mail
        help_url=(
            "https://help.aol.com/articles/"
            "how-do-i-use-other-email-applications-to-send-and-receive-my-aol-mail"
        ),
        domains=("aol.com", "aim.com"),
        host_suffixes=("aol.com",),
        known_errors=(
            KnownError(
                r"535",
                _("AOL did not accept the user name and password."),
                _(
                    "AOL needs an app password for other programs: create one under "
                    "Account info › Account security › Generate app password and enter it here."
                ),
            ),
        ),
    ),
    Preset(
        key="icloud",
        label=_("iCloud Mail"),
        host="smtp.mail.me.com",
        port=587,
        security=Security.STARTTLS,
        login_note=_(
            "Use your full iCloud Mail address as the user name and an app-specific "
            "password, made at account.apple.com › Sign-In and Security › App-Specific "
            "Passwords (your Apple Account needs two-factor authentication)."
        ),
        # https://support.apple.com/102525 (iCloud Mail server settings)
        help_url="https://support.apple.com/102525",
        domains=("icloud.com", "me.com", "mac.com"),
        host_suffixes=("mail.me.com", "icloud.com"),
        mx_suffixes=("mail.icloud.com",),
        spf_include="icloud.com",
    ),
    Preset(
        key="zoho",
        label=_("Zoho Mail"),
        host="smtp.zoho.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use your full Zoho address as the user name. With two-factor authentication on, "
            "make an application-specific password. Accounts of an organisation (your own "
            "domain) send through smtppro.zoho.* instead of smtp.zoho.*. Choose the region "
            "your account lives in."
        ),
        # https://www.zoho.com/mail/help/zoho-smtp.html
        help_url="https://www.zoho.com/mail/help/zoho-smtp.html",
        domains=("zoho.com", "zohomail.com", "zoho.eu", "zohomail.eu", "zoho.in"),
        host_suffixes=("zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zohocloud.ca"),
        mx_suffixes=("zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zohocloud.ca"),
        spf_include="zoho.com",
        regions=(
            (_("United States"), "smtp.zoho.com"),
            (_("Europe"), "smtp.zoho.eu"),
            (_("India"), "smtp.zoho.in"),
            (_("Australia"), "smtp.zoho.com.au"),
            (_("Japan"), "smtp.zoho.jp"),
            (_("Canada"), "smtp.zohocloud.ca"),
        ),
    ),
    Preset(
        key="fastmail",
        label=_("Fastmail"),
        host="smtp.fastmail.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        login_note=_(
            "Use your full Fastmail address as the user name and an app password (Settings › "
            "Privacy & Security › Manage app passwords and access) with SMTP access."
        ),
        # https://www.fastmail.help/hc/en-us/articles/1500000278342
        help_url="https://www.fastmail.help/hc/en-us/articles/1500000278342",
        domains=("fastmail.com", "fastmail.fm", "fastmail.net", "fastmail.org"),
        host_suffixes=("fastmail.com", "messagingengine.com"),
        mx_suffixes=("messagingengine.com",),
        spf_include="spf.messagingengine.com",
    ),
    Preset(
        key="sendgrid",
        label=_("SendGrid (Twilio)"),
        host="smtp.sendgrid.net",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        username_rule="apikey",
        login_note=_(
            "The user name is the literal word apikey; the password is an API key with "
            "“Mail Send” permission. The sender must be a verified Sender Identity or on an "
            "authenticated domain."
        ),
        # https://www.twilio.com/docs/sendgrid/for-developers/sending-email/integrating-with-the-smtp-api
        help_url=(
            "https://www.twilio.com/docs/sendgrid/for-developers/sending-email/"
            "integrating-with-the-smtp-api"
        ),
        host_suffixes=("sendgrid.net",),
        spf_include="sendgrid.net",
        known_errors=(
            KnownError(
                r"does not match a verified Sender Identity",
                _("SendGrid refuses this sender: it is not a verified Sender Identity."),
                _(
                    "Verify the sender address (Settings › Sender Authentication) or "
                    "authenticate its domain in SendGrid."
                ),
                field="from_email",
                distinctive=True,
            ),
            KnownError(
                r"535",
                _("SendGrid did not accept the login."),
                _(
                    "The user name must be the literal word apikey (not your account name) "
                    "and the password an API key with Mail Send permission."
                ),
                field="username",
            ),
        ),
    ),
    Preset(
        key="mailgun",
        label=_("Mailgun"),
        host="smtp.mailgun.org",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Use the SMTP credentials of your sending domain (Sending › Domain settings › "
            "SMTP credentials), such as postmaster@mg.example.com and its password. EU "
            "accounts use the EU server."
        ),
        # https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-smtp
        help_url=(
            "https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-smtp"
        ),
        host_suffixes=("mailgun.org",),
        mx_suffixes=("mailgun.org",),
        spf_include="mailgun.org",
        regions=((_("United States"), "smtp.mailgun.org"), (_("Europe"), "smtp.eu.mailgun.org")),
    ),
    Preset(
        key="ses",
        label=_("Amazon SES"),
        host="email-smtp.us-east-1.amazonaws.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Use SES SMTP credentials (SES console › SMTP settings › Create SMTP "
            "credentials), not your AWS access keys, and the region where your identities "
            "are verified. New accounts are in the sandbox: they can only send to verified "
            "addresses until production access is granted."
        ),
        # https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html
        help_url="https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html",
        host_suffixes=("amazonaws.com", "amazonses.com"),
        mx_suffixes=("amazonaws.com", "amazonses.com"),
        spf_include="amazonses.com",
        regions=tuple(
            (region, f"email-smtp.{region}.amazonaws.com")
            for region in (
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "ca-central-1",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "eu-central-1",
                "eu-north-1",
                "eu-south-1",
                "ap-south-1",
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-northeast-3",
                "ap-southeast-1",
                "ap-southeast-2",
                "sa-east-1",
                "me-south-1",
                "af-south-1",
                "il-central-1",
            )
        ),
        known_errors=(
            KnownError(
                r"Email address is not verified|not verified.*identit",
                _("Amazon SES refused: an address is not verified in this region."),
                _(
                    "Verify the sender's address or domain in the SES console of this region; "
                    "in the sandbox, verify the recipients too or request production access."
                ),
                field="from_email",
                distinctive=True,
            ),
            KnownError(
                r"535",
                _("Amazon SES did not accept the login."),
                _(
                    "Use SES SMTP credentials made for this region (not AWS access keys); "
                    "credentials from another region do not work here."
                ),
            ),
        ),
    ),
    Preset(
        key="postmark",
        label=_("Postmark"),
        host="smtp.postmarkapp.com",
        port=587,
        security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Use your Server API token as both the user name and the password (Servers › "
            "your server › API Tokens). The sender must be a confirmed Sender Signature or "
            "on a verified domain. Broadcast mail uses smtp-broadcasts.postmarkapp.com."
        ),
        # https://postmarkapp.com/developer/user-guide/send-email-with-smtp
        help_url="https://postmarkapp.com/developer/user-guide/send-email-with-smtp",
        host_suffixes=("postmarkapp.com",),
        spf_include="spf.mtasv.net",
    ),
    Preset(
        key="brevo",
        label=_("Brevo (Sendinblue)"),
        host="smtp-relay.brevo.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Use the SMTP login shown under SMTP & API › SMTP (an address ending in "
            "@smtp-brevo.com) and an SMTP key as the password, not your account password."
        ),
        # https://help.brevo.com/hc/en-us/articles/7924908994450
        help_url="https://help.brevo.com/hc/en-us/articles/7924908994450",
        host_suffixes=("brevo.com", "sendinblue.com"),
        spf_include="spf.brevo.com",
    ),
    Preset(
        key="mailjet",
        label=_("Mailjet"),
        host="in-v3.mailjet.com",
        port=465,
        security=Security.SSL,
        alternative_port=587,
        alternative_security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Use your API key as the user name and your secret key as the password "
            "(Account settings › API keys). The sender must be a validated address or domain."
        ),
        # https://documentation.mailjet.com/hc/en-us/articles/360043229473
        help_url="https://documentation.mailjet.com/hc/en-us/articles/360043229473",
        host_suffixes=("mailjet.com",),
        spf_include="spf.mailjet.com",
    ),
    Preset(
        key="other",
        label=_("Other / own server"),
        host="",
        port=587,
        security=Security.STARTTLS,
        username_rule="",
        login_note=_(
            "Enter the settings your provider or mail administrator gives you. Port 587 "
            "with STARTTLS or 465 with SSL/TLS is usual; port 25 is often blocked."
        ),
    ),
)

PRESETS_BY_KEY: dict[str, Preset] = {preset.key: preset for preset in PRESETS}

#: The preset for a server the admin enters by hand: a profile stores it as a blank provider.
OTHER = "other"


def get_preset(key: str) -> Preset | None:
    """The preset with this key, or None."""
    return PRESETS_BY_KEY.get(key)


def validate_provider(key: str) -> None:
    """A profile's provider is a preset's key (blank, not "other", for a server of its own)."""
    if key and (key == OTHER or key not in PRESETS_BY_KEY):
        raise ValidationError(
            _("“%(key)s” is not a known provider."), code="invalid_provider", params={"key": key}
        )


def provider_for(host: str, auth_method: str = "") -> str:
    """The provider key a profile with this host (and sign-in method) was most likely made
    from, or "" when the host belongs to no preset (used for profiles saved before the
    provider was stored)."""
    own = preset_for_host(host)
    if own is None:
        return ""
    # Gmail has a preset for each sign-in method on the same server.
    for preset in PRESETS:
        if preset.host == own.host and preset.auth_method == auth_method:
            return preset.key
    return own.key


def is_preset_host(host: str) -> bool:
    """Whether this host is exactly a server a preset fills in (not a look-alike name)."""
    host = host.lower().rstrip(".")
    return any(
        host == preset.host or host in (region for _label, region in preset.regions)
        for preset in PRESETS
        if preset.host
    )


def preset_for_host(host: str) -> Preset | None:
    """The provider whose servers this host name belongs to, if any."""
    host = host.lower().rstrip(".")
    for preset in PRESETS:
        for suffix in preset.host_suffixes:
            if host == suffix or host.endswith("." + suffix):
                return preset
    return None


def known_error_for(
    host: str, reply: str, field: str | None = None
) -> tuple[Preset, KnownError] | None:
    """The provider error this reply is: the host's provider first, then any distinctive one.

    ``field`` limits the search to errors about that form field.
    """
    own = preset_for_host(host)
    candidates = [(own, error) for error in own.known_errors] if own else []
    candidates += [
        (preset, error)
        for preset in PRESETS
        if preset is not own
        for error in preset.known_errors
        if error.distinctive
    ]
    for preset, error in candidates:
        if (field is None or error.field == field) and error.matches(reply):
            return preset, error
    return None


def preset_for_mx(mx_host: str) -> Preset | None:
    """The provider whose mail servers this MX host belongs to, if any.

    The longest matching suffix wins, so that Microsoft 365's
    ``mail.protection.outlook.com`` is not taken for Outlook.com.
    """
    host = mx_host.lower().rstrip(".")
    best, best_length = None, 0
    for preset in PRESETS:
        for suffix in preset.mx_suffixes:
            if (host == suffix or host.endswith("." + suffix)) and len(suffix) > best_length:
                best, best_length = preset, len(suffix)
    return best


def preset_for_address(address: str) -> Preset | None:
    """The provider whose email domains include this address's domain, if any."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return next((preset for preset in PRESETS if domain in preset.domains), None)
