"""A test of SMTP settings (saved or not): the transport with a recorder, and its report.

``conversation`` holds the test (:func:`run_probe`), ``report`` what it
found (:class:`ProbeReport`, :class:`StepResult`), ``message`` the test
email. ``ProbeSettings`` is the transport's
:class:`~smtpconfig.transport.settings.ConnectionSettings` under the name the
test has always taken.
"""

from ..transport.settings import ConnectionSettings
from ..transport.settings import ConnectionSettings as ProbeSettings
from ..transport.steps import Step
from .conversation import run_probe
from .message import build_test_message
from .report import MAX_REPORT_BYTES, ProbeReport, StepResult

#: Each step's label, by its name (for templates and stored reports).
STEP_LABELS = {step.value: step.label for step in Step}

__all__ = [
    "MAX_REPORT_BYTES",
    "STEP_LABELS",
    "ConnectionSettings",
    "ProbeReport",
    "ProbeSettings",
    "Step",
    "StepResult",
    "build_test_message",
    "run_probe",
]
