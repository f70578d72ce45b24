"""Imports every service's models so the metadata knows every table."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from overcast.db.base import Base

#: Service packages whose `models` module defines tables (in migration order).
MODEL_MODULES = [
    "overcast.identity.models",
    "overcast.placement.models",
    "overcast.compute.models",
    "overcast.image.models",
    "overcast.network.models",
    "overcast.volume.models",
    "overcast.volume.backup_models",
    "overcast.object.models",
]


def load_all() -> MetaData:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
