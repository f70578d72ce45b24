"""An API worker's app for other ASGI servers (bench/process_model.py --granian):
`make()` builds `create_app(role="api")` for the data directory in OVERCAST_DATA_DIR,
as each `overcast up` worker does, so another server can serve the same cloud."""

from __future__ import annotations

from typing import Any


def make() -> Any:
    from overcast.app import create_app
    from overcast.config import load_settings
    from overcast.serve import worker_bus

    settings = load_settings()
    return create_app(settings, role="api", bus=worker_bus(settings))
