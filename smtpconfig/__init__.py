"""smtpconfig: a site's outgoing-mail (SMTP) settings kept in the database.

Public surface: :class:`smtpconfig.models.SMTPProfile`,
``smtpconfig.backends.EmailBackend``, the ``smtp_*`` management commands and
the ``SMTPCONFIG`` settings dict (see :mod:`smtpconfig.conf`).
"""

__version__ = "0.1.0"
