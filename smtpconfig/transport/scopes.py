"""Whether an access token may send mail: the scopes asked for against the scopes granted.

A token endpoint may grant fewer scopes than were asked for (a person who
unticked a permission on Google's consent screen, a Microsoft app without
``SMTP.Send``) and says so in the token's ``scope``. Such a token is refused
by the mail server with a reply that does not say why; comparing the scopes
first lets the Token step say it.
"""

from __future__ import annotations

# Scopes that ask for something other than sending mail (sign-in, a refresh token).
_NOT_FOR_SENDING = frozenset({"offline_access", "openid", "profile", "email"})


def sending_scopes(requested: str) -> list[str]:
    """The scopes in ``requested`` that are about mail: not ``offline_access`` and the
    like, nor ``.default`` (whatever the app was granted, which cannot be compared)."""
    return [
        scope
        for scope in requested.split()
        if scope.lower() not in _NOT_FOR_SENDING and not scope.lower().endswith("/.default")
    ]


def missing_scopes(requested: str, granted: str) -> list[str]:
    """The mail scopes of ``requested`` that ``granted`` lacks; none when nothing was said.

    Microsoft may answer a scope with another resource's name for it
    (``https://outlook.office365.com/SMTP.Send`` for ``…office.com/SMTP.Send``) or
    the bare name, so a scope also counts as granted by its last path segment.
    """
    if not granted.strip():
        return []  # the endpoint did not say (Microsoft app-only, many others)
    have = set()
    for scope in granted.lower().split():
        have.update((scope, _name(scope)))
    return [
        scope
        for scope in sending_scopes(requested)
        if scope.lower() not in have and _name(scope.lower()) not in have
    ]


def _name(scope: str) -> str:
    # "https://outlook.office.com/smtp.send" -> "smtp.send"; "https://mail.google.com/" stays.
    return scope.rsplit("/", 1)[-1] or scope
