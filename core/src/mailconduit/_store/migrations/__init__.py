"""Alembic environment for the store, shipped inside the package (no alembic.ini needed)."""
