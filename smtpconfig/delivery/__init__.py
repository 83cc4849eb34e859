"""The site's mail on its way out: which profiles, in which order, and what happened.

``profiles`` keeps the per-process snapshot of the enabled profiles (and
knows when it is stale), ``failover`` decides the order and when a message
may move on, ``log`` writes the delivery log. The backend
(:mod:`smtpconfig.backends`) puts them together over the transport.
"""
