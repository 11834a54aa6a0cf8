"""The web view, its JSON API and Atom feeds, /healthz and /metrics: one ASGI app.

Read-only, server-rendered (works without JavaScript), every asset shipped in the package so
a strict Content-Security-Policy holds; importing this package loads nothing heavy (the CLI's
read commands must stay quick to start): see `monitor.web.app.create_app`.
"""
