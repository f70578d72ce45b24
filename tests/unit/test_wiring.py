"""Compute's ports are handed over in app.py, whatever order the services are set up in."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast import app as app_module
from overcast.config import load_settings


@pytest.mark.parametrize("reverse", [False, True])
def test_compute_gets_its_ports_in_any_module_order(tmp_path: Path, reverse: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    modules = list(app_module.SERVICE_MODULES)
    monkeypatch.setattr(app_module, "SERVICE_MODULES", modules[::-1] if reverse else modules)
    settings = load_settings(data_dir=tmp_path / "cloud", environ={}, port=0,
                             merge_user_clouds_yaml=False, local_agent=False,
                             build_test_image=False)
    app = app_module.create_app(settings)
    compute = app.state.compute
    assert compute.network is app.state.network
    assert compute.image is app.state.images
    assert compute.placement is app.state.placement
    assert compute.hosts.placement is app.state.placement
    app.state.db.dispose()
