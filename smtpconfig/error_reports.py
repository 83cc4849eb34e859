"""Error reports that never show a secret, with ``DEBUG`` on or off.

Django's :class:`~django.views.debug.SafeExceptionReporterFilter` hides
settings whose names look secret, and the variables and POST fields marked
with ``sensitive_variables`` / ``sensitive_post_parameters``, but only while
``DEBUG`` is off: the debug page then shows a password typed into the profile
form, or an encryption key held in a local variable. This filter is always
on, and also hides any local variable or POST field whose name looks secret
(``password``, ``keys``, ``token``, ...), so that code which forgot a marker
does not leak either.

Set ``DEFAULT_EXCEPTION_REPORTER_FILTER =
"smtpconfig.error_reports.SecretSafeExceptionReporterFilter"``; check
``smtpconfig.W006`` says so when it is missing.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Filters every report, also under ``DEBUG``, and hides secret-looking names."""

    def is_active(self, request) -> bool:
        return True

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not parameters:
            return parameters
        cleansed = parameters.copy()
        for name in cleansed:
            if self.hidden_settings.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
