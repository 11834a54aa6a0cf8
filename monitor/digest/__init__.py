"""Daily digest emails: what is new, changed and removed per topic, sent exactly once.

settings (the [digest] and [smtp] config sections) · build (queries → a Digest tree)
· render (Digest → subject, text, HTML, EmailMessage; pure) · send (SMTP) · run (which
periods are due, claimed, sent and recorded; the CLI's preview).

This module imports nothing on purpose: monitor.config imports monitor.digest.settings,
and an import here would run before the configuration models exist.
"""
