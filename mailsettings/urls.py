"""URLs of the host project: the admin, with password reset wired to its login page."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from .password_reset import QueuedPasswordResetForm

admin.site.site_header = _("Mail settings")
admin.site.site_title = _("Mail settings")
# Two apps do not need a navigation sidebar; the tables need the width.
admin.site.enable_nav_sidebar = False
# The password-reset pages are the auth app's, not the admin's: without the site's title
# they would say "Django administration".
_TITLES = {"site_header": admin.site.site_header, "site_title": admin.site.site_title}

urlpatterns = [
    # The name "admin_password_reset" makes the admin login page show "Forgotten your password?".
    path(
        "admin/password_reset/",
        # The account is looked up by a task worker: the answer takes the same time whether
        # or not the address has one.
        auth_views.PasswordResetView.as_view(
            extra_context=_TITLES, form_class=QueuedPasswordResetForm
        ),
        name="admin_password_reset",
    ),
    path(
        "admin/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(extra_context=_TITLES),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(extra_context=_TITLES),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(extra_context=_TITLES),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    # /healthz and /readyz for load balancers and monitoring (docs/deploy.md).
    path("", include("smtpconfig.health.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
