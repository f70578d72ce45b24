"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest

from overcast.config import load_settings
from overcast.image.builder import BuildError, BuiltImage, build_test_image


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """overcast-tiny, built (or taken from the cache) once per test module; the cache
    is the settings' (OVERCAST_CACHE_DIR, else the user's cache directory)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("settings"))
    try:
        return build_test_image(settings.guest_cache_dir)
    except BuildError as exc:
        pytest.skip(f"overcast-tiny cannot be built here: {exc}")
