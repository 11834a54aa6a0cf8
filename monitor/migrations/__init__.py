"""The Alembic environment and revisions, shipped in the package so that a wheel installed
anywhere can create and upgrade its database (`monitor db upgrade`)."""
