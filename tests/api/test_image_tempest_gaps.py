"""Glance wire details that Tempest's image tests rely on (issue 16): the older JSON
patch media type, and paths with an empty image id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

V2 = "/image/v2"
PATCH_V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("glance-gaps"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


def _image(cloud: Cloud, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{V2}/images", headers=headers,
                          json={"name": "gap", "disk_format": "raw",
                                "container_format": "bare", **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_v20_patch_replaces_adds_and_removes(glance: Cloud) -> None:
    hd = glance.make_project_user()["headers"]
    img = _image(glance, hd, color="red")
    r = glance.client.patch(f"{V2}/images/{img['id']}", headers={**hd, **PATCH_V20}, json=[
        {"replace": "/name", "value": "renamed"},
        {"add": "/flavor", "value": "mint"},
        {"remove": "/color"},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "renamed" and body["flavor"] == "mint" and "color" not in body
    shown = glance.client.get(f"{V2}/images/{img['id']}", headers=hd).json()
    assert shown["name"] == "renamed" and "color" not in shown


@pytest.mark.parametrize("op", [
    {"path": "/name", "value": "x"},                       # names no operation
    {"replace": "/name", "add": "/name", "value": "x"},   # names two
])
def test_v20_patch_needs_exactly_one_operation(glance: Cloud, op: dict[str, Any]) -> None:
    hd = glance.make_project_user()["headers"]
    img = _image(glance, hd)
    r = glance.client.patch(f"{V2}/images/{img['id']}", headers={**hd, **PATCH_V20},
                            json=[op])
    assert r.status_code == 400, r.text
    assert "Operation objects must contain" in r.text
    assert glance.client.get(f"{V2}/images/{img['id']}", headers=hd).json()["name"] == "gap"


def test_v20_patch_checks_values_as_v21_does(glance: Cloud) -> None:
    hd = glance.make_project_user()["headers"]
    img = _image(glance, hd)
    for op in ({"replace": "/min_ram", "value": "lots"}, {"replace": "/id", "value": "x"},
               {"replace": "/status", "value": "active"}):
        r = glance.client.patch(f"{V2}/images/{img['id']}", headers={**hd, **PATCH_V20},
                                json=[op])
        assert r.status_code in (400, 403), (op, r.status_code, r.text)


def test_patch_of_another_type_is_415_naming_both_patch_types(glance: Cloud) -> None:
    hd = glance.make_project_user()["headers"]
    img = _image(glance, hd)
    r = glance.client.patch(f"{V2}/images/{img['id']}", headers=hd,
                            json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 415
    assert "v2.0-json-patch" in r.headers["Accept-Patch"]
    assert "v2.1-json-patch" in r.headers["Accept-Patch"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_empty_image_id_is_404_not_a_redirect(glance: Cloud, method: str) -> None:
    hd = glance.make_project_user()["headers"]
    _image(glance, hd)
    r = glance.client.request(method, f"{V2}/images/", headers=hd, follow_redirects=False)
    assert r.status_code == 404, (r.status_code, r.text)
    # the listing is still where it was, and still a listing
    assert glance.client.get(f"{V2}/images", headers=hd).status_code == 200


def test_empty_image_id_needs_a_token_first(glance: Cloud) -> None:
    r = glance.client.get(f"{V2}/images/", follow_redirects=False)
    assert r.status_code == 401
