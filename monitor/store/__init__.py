"""Persistence: models, engine and migrations, and the queries the pipeline and CLI use."""
