"""The outbox: queued mail, sent by workers of Django's task framework.

``store`` writes messages in the caller's transaction; ``claims`` hands due
messages to one worker at a time under a lease; ``worker`` sends a claimed
batch over one connection per route and records each outcome; ``retry``
decides what a failure means (try later, failed for good, or unknown);
``tasks`` is the task the queue runs; ``sweep`` recovers lost triggers and
expired claims; ``alerts`` tells the administrators.
"""
