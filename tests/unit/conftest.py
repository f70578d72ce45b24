"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest

from overcast.image.builder import BuildError, BuiltImage, build_test_image


@pytest.fixture(scope="module")
def built() -> BuiltImage:
    """overcast-tiny, built (or taken from the cache) once per test module."""
    try:
        return build_test_image()
    except BuildError as exc:
        pytest.skip(f"overcast-tiny cannot be built here: {exc}")
