"""The health checks' URLs, for the site's root: ``path("", include("smtpconfig.health.urls"))``.

Load balancers and orchestrators expect them there (``/healthz``, ``/readyz``),
without a trailing slash.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="smtpconfig_healthz"),
    path("readyz", views.readyz, name="smtpconfig_readyz"),
]
