"""Which server a backend talks to: its profiles in order, or Django's ``EMAIL_*`` settings,
with explicit constructor arguments on top, as one :class:`ConnectionSettings`."""

from __future__ import annotations

from django.conf import settings
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from ..transport.settings import ConnectionSettings, Security, strip_brackets
from .failover import order_for_sender, sender_domain
from .profiles import ResolvedProfile, named_profile

# Arguments that name a server: given explicitly, they mean "this server", so no failover.
_SERVER_ARGUMENTS = ("host", "port", "username", "password", "use_tls", "use_ssl")


def choose_chain(
    profiles: tuple[ResolvedProfile, ...], name: str | None, failover: bool | None, explicit: dict
) -> list[ResolvedProfile]:
    """The profiles a backend may use, in failover order.

    All enabled profiles (the first only with ``failover=False``); a named
    one alone (with the others after it when ``failover=True``); one only
    when explicit arguments name a server.
    """
    if name is not None:
        pinned = named_profile(name, profiles)
        others = [candidate for candidate in profiles if candidate is not pinned]
        chain = [pinned, *others] if failover else [pinned]
    else:
        chain = list(profiles) if failover is not False else list(profiles[:1])
    if any(argument in explicit for argument in _SERVER_ARGUMENTS):
        chain = chain[:1]
    return chain


class ProfileTargetsMixin:
    """For the backend: the profile it is set up for, and the settings of its next connection.

    Expects Django's ``EmailBackend`` attributes (host, port, username, password,
    use_tls, use_ssl, timeout, ssl_certfile, ssl_keyfile) and ``explicit``,
    ``chain``, ``routed``, ``profile`` and ``_fallback``.
    """

    @method_decorator(sensitive_variables("values", "explicit", "from_profile"))
    def _configure(self, profile: ResolvedProfile) -> None:
        """Take the connection settings from ``profile``; explicit arguments still win."""
        settings_ = profile.settings
        values = {
            "host": settings_.host,
            "port": settings_.port,
            "username": settings_.username,
            "password": settings_.password,
            "use_tls": settings_.security == Security.STARTTLS,
            "use_ssl": settings_.security == Security.SSL,
            "timeout": settings_.timeout,
        }
        explicit = dict(self.explicit)
        if "use_tls" in explicit or "use_ssl" in explicit:
            values["use_tls"] = bool(explicit.pop("use_tls", False))
            values["use_ssl"] = bool(explicit.pop("use_ssl", False))
        from_profile = dict(values)
        values.update(explicit)
        if "password" not in explicit and any(
            values[name] != from_profile[name] for name in ("host", "port", "use_tls", "use_ssl")
        ):
            # The profile's password is sealed to the profile's server: explicit arguments
            # that point elsewhere get no login unless they bring their own credentials.
            values["password"] = ""
            values["username"] = explicit.get("username", "")
        for name, value in values.items():
            setattr(self, name, value)
        self.profile = profile

    def _django_settings_target(self) -> ResolvedProfile:
        """Django's ``EMAIL_*`` settings (and explicit arguments) as a target of their own."""
        return ResolvedProfile(
            pk=None,
            name=_("EMAIL_* settings"),
            settings=ConnectionSettings(host=str(self.host), port=int(self.port or 0)),
            password_error="",
            priority=0,
            is_default=True,
            sender_domains=(),
            sender=settings.DEFAULT_FROM_EMAIL,
        )

    def connection_settings(self) -> ConnectionSettings:
        """What the next connection uses: the current profile's settings, or Django's
        ``EMAIL_*`` ones, with this backend's attributes (explicit arguments) on top."""
        # No local variable holds the password (error reports list locals), and no
        # decorator wraps this per-connection call.
        base = self.profile.settings if self.profile is not None else ConnectionSettings("", 0)
        security = (
            Security.SSL if self.use_ssl else Security.STARTTLS if self.use_tls else Security.NONE
        )
        # As Django: no login without both a user name and a password (profiles say why).
        logs_in = self.profile is not None or bool(self.password)
        return base.replace(
            host=strip_brackets(str(self.host or "")),
            port=int(self.port or 0),
            security=security,
            username=(self.username or "") if logs_in else "",
            password=self.password or "",
            timeout=self.timeout,
            client_certfile=self.ssl_certfile,
            client_keyfile=self.ssl_keyfile,
            # Django's settings and an explicit password are the operator's own choice.
            allow_plaintext_auth=(
                base.allow_plaintext_auth or self.profile is None or "password" in self.explicit
            ),
        )

    def _targets(self) -> list[ResolvedProfile]:
        return list(self.chain) if self.chain else [self._fallback]

    def _order_for(self, message) -> list[ResolvedProfile]:
        if self.routed and len(self.chain) > 1:
            return order_for_sender(self.chain, sender_domain(str(message.from_email)))
        return self._targets()
