"""``{% smtpconfig_mail_status %}``: the site's mail at a glance, for the admin index.

The host project puts it in its ``admin/index.html`` (as ``mailsettings`` does):
each profile's last test and recent deliveries, the outbox's waiting, deferred
and failed messages, a banner when the site's mail is failing now or messages
wait with no worker running, and the first-run guide while no profile exists.
"""

from __future__ import annotations

from django import template
from django.contrib import messages
from django.urls import reverse

from ..admin.banners import delivery_log_url, failing_banner, profile_banners
from ..admin.columns import ProfileColumns, add_outbox_failures
from ..admin.first_run import first_run
from ..admin.health import mail_failing_now, sending_health
from ..admin.queue_status import counts_html, outbox_counts, worker_banner
from ..models import SMTPProfile

register = template.Library()

_LEVEL_TAGS = {messages.ERROR: "error", messages.WARNING: "warning", messages.INFO: "info"}


@register.inclusion_tag("smtpconfig/mail_status.html", takes_context=True)
def smtpconfig_mail_status(context) -> dict:
    """The mail status panel, for a user who may view the profiles (nothing otherwise)."""
    request = context.get("request")
    if request is None or not request.user.has_perm("smtpconfig.view_smtpprofile"):
        return {"show": False}
    site_name = getattr(getattr(request, "resolver_match", None), "namespace", "") or "admin"
    profiles = list(SMTPProfile.objects.all())
    health = sending_health(profiles)
    counts = outbox_counts(request)
    add_outbox_failures(health, counts, request, site_name)
    columns = ProfileColumns()
    rows = []
    for profile in profiles:
        profile.sending_health = health[profile.pk]
        rows.append(
            {
                "profile": profile,
                "url": reverse(f"{site_name}:smtpconfig_smtpprofile_change", args=[profile.pk]),
                "last_test": columns.last_test_column(profile),
                "sending": columns.sending_column(profile),
            }
        )
    banners = []
    failing = mail_failing_now()
    if failing is not None:
        banners.append(failing_banner(failing, delivery_log_url(request, site_name)))
    stale = worker_banner(request, site_name)
    if stale is not None:
        banners.append(stale)
    if profiles:
        banners += profile_banners(profiles, health=health)
    return {
        "show": True,
        "rows": rows,
        "list_url": reverse(f"{site_name}:smtpconfig_smtpprofile_changelist"),
        "outbox": counts_html(counts, request, site_name),
        "banners": [(_LEVEL_TAGS.get(level, "info"), text) for level, text in banners],
        "guide": first_run(request, profiles, site_name),
        "csrf_token": context.get("csrf_token"),
        "site_name": site_name,
    }
