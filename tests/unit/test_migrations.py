"""The Alembic history builds exactly the schema the models declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from overcast.db import Base
from overcast.db.migrate import upgrade
from overcast.db.models import load_all


def test_migrations_match_models(tmp_path: Path) -> None:
    load_all()
    engine = create_engine(f"sqlite:///{tmp_path}/schema.db")
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff
