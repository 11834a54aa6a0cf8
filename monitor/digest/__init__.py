"""Daily digest emails: what is new, changed and removed per topic, sent exactly once.

settings: the [digest] and [smtp] config sections · content: the Digest tree (pure) ·
snippets: the changed sentences of a diff (pure) · build: queries → Digest · render:
Digest → subject, text, HTML, EmailMessage (pure, Jinja2) · send: SMTP · run: which
periods are due, claimed, sent and recorded, exactly once · jobs: the service's
scheduler jobs · command: `monitor digest` (preview, or send now).

This module imports nothing on purpose: monitor.config imports monitor.digest.settings,
and an import here would run before the configuration models exist.
"""
