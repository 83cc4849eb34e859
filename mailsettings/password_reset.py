"""Password reset that answers in the same time whether or not the account exists.

Django's ``PasswordResetForm.save()`` looks the address up in the request and
renders and sends an email only when an account has it: the time the answer
takes tells who has an account. Here the request only enqueues a task with the
address (one database row, whatever the address); the look-up, the token and
the email happen in the task worker, whose mail goes to the outbox as any
other.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

try:  # Django 6.0 has the task framework; on 5.2 the django-tasks backport provides it.
    from django.tasks import task
except ImportError:
    from django_tasks import task

logger = logging.getLogger("mailsettings")


@task()
def send_password_reset(
    email: str,
    domain: str,
    use_https: bool,
    language: str,
    subject_template_name: str,
    email_template_name: str,
    html_email_template_name: str | None = None,
    from_email: str | None = None,
    extra_email_context: dict | None = None,
) -> None:
    """Send Django's password-reset email to each active account with ``email``."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return
    with translation.override(language):
        form.save(
            domain_override=domain,
            use_https=use_https,
            subject_template_name=subject_template_name,
            email_template_name=email_template_name,
            html_email_template_name=html_email_template_name,
            from_email=from_email,
            extra_email_context=extra_email_context,
        )


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's form, its ``save()`` done by a task worker (see the module docstring)."""

    def save(
        self,
        domain_override=None,
        subject_template_name="registration/password_reset_subject.txt",
        email_template_name="registration/password_reset_email.html",
        use_https=False,
        token_generator=default_token_generator,
        from_email=None,
        request=None,
        html_email_template_name=None,
        extra_email_context=None,
    ):
        if token_generator is not default_token_generator:
            # A custom generator cannot travel to the worker: do it here, as Django does.
            return super().save(
                domain_override,
                subject_template_name,
                email_template_name,
                use_https,
                token_generator,
                from_email,
                request,
                html_email_template_name,
                extra_email_context,
            )
        domain = domain_override or get_current_site(request).domain
        arguments = {
            "email": self.cleaned_data["email"],
            "domain": domain,
            "use_https": use_https,
            "language": translation.get_language() or settings.LANGUAGE_CODE,
            "subject_template_name": subject_template_name,
            "email_template_name": email_template_name,
            "html_email_template_name": html_email_template_name,
            "from_email": from_email,
            "extra_email_context": extra_email_context,
        }
        try:
            send_password_reset.enqueue(**arguments)
        except Exception:  # noqa: BLE001 - the reset must not be lost with the task broker
            logger.exception("Could not queue a password reset task; sending it from the request.")
            send_password_reset.call(**arguments)
