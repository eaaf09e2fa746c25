"""The store: SQLAlchemy 2 models, Alembic migrations, engines with durable settings, repositories.

SQLite file by default (WAL, synchronous=FULL), PostgreSQL by URL. Open it with :func:`open_store`;
create or upgrade its schema with :func:`upgrade` (``mailconduit db upgrade``).
"""

from __future__ import annotations

from mailconduit._store._store import Store, open_store, upgrade

__all__ = ["Store", "open_store", "upgrade"]
