"""The database layer: engine, sessions, the declarative base and migrations.

SQLite (WAL mode) is the embedded default; PostgreSQL is used by URL. Every
service's tables derive from `Base` and live in that service's `models.py`;
there is one Alembic history for all of them (`db/migrations`).
"""

from overcast.db.base import Base, utcnow
from overcast.db.engine import Database

__all__ = ["Base", "Database", "utcnow"]
