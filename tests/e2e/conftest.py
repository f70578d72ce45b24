"""The `lab` fixture: the one `overcast lab` the lab modules share (lab_harness.py),
started by the first test that asks for it and stopped (and purged, which is
checked) in the teardown of the last test of a run of such tests, so CI starts it
once and no guest of it outlives the lab tests."""

from __future__ import annotations

import pytest

from tests.e2e import lab_harness


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory) -> lab_harness.Lab:
    why = lab_harness.why_not()
    if why:
        pytest.skip(why)
    return lab_harness.shared(lambda: tmp_path_factory.mktemp("lab"))


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    uses = "lab" in getattr(item, "fixturenames", ())
    next_uses = nextitem is not None and "lab" in getattr(nextitem, "fixturenames", ())
    if uses and not next_uses and lab_harness.running():
        lab_harness.shutdown()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if lab_harness.running():  # interrupted: never leave a lab behind
        lab_harness.shutdown()
