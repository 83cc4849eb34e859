"""Health checks for load balancers and monitoring: ``/healthz`` and ``/readyz``.

``views.healthz`` says that the process answers (nothing else is touched);
``views.readyz`` runs :mod:`.checks` (the database, the encryption keys, the
default profile's secret, the outbox's backlog) and answers 503 naming the
checks that fail. Include :mod:`smtpconfig.health.urls` at the site's root.
"""
