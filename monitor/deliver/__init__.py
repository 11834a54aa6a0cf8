"""Alerts as they happen: rules (rules.py), the outbox's events (events.py, outbox.py), the
messages (format.py), the channels (send.py) and the job that delivers (job.py).

An event is written in the same transaction as the story or version that causes it; the
delivery job claims due deliveries, sends them and records every attempt. See the README's
"Alerts" for the guarantees.
"""
