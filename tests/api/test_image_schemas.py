"""Glance v2's request schemas at the door: every body and query string checked before
the service runs, refused with Glance's status and error format (issue 13, section 1).

Categories: wrong JSON types, integers past Glance's 32-bit columns (min_ram and
min_disk), strings past 255, NUL and 4-byte unicode (refused as Glance refuses
them; other control characters pass, as in Glance), enums, JSON-patch shape, the
per-image limits on properties, tags and members (413), content types (415), and
the list query's limit, sort, enums, sizes and booleans.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from overcast.image.requests import IMAGE, IMAGE_LIST_QUERY, IMAGE_PATCH
from tests.conftest import Cloud, build_cloud

V2 = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("glance-schemas"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture(scope="module")
def user(glance: Cloud) -> dict[str, Any]:
    return glance.make_project_user()


def glance_error(r: httpx.Response, status: int, text: str = "") -> str:
    """Assert Glance's error format: {"code": "400 Bad Request", "title", "message"}."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "title", "message"}, body
    assert body["code"].startswith(str(status)) and body["title"] in body["code"]
    assert text in body["message"], body["message"]
    assert len(r.content) < 2000  # a huge input is never echoed back
    assert r.headers.get("x-openstack-request-id")
    return str(body["message"])


def create(glance: Cloud, headers: dict[str, str], body: Any) -> httpx.Response:
    return glance.client.post(f"{V2}/images", headers=headers, json=body)


def new_image(glance: Cloud, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = create(glance, headers, {"name": "s", "disk_format": "raw",
                                 "container_format": "bare", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


# --- image create --------------------------------------------------------------------
@pytest.mark.parametrize("body,text", [
    # integers: Glance's columns are 32-bit; past 64 bits the door refuses
    ({"min_ram": 2**31}, "'min_ram' value out of range, must not exceed 2147483647."),
    ({"min_disk": 2**62}, "'min_disk' value out of range"),
    ({"min_ram": 2**63}, "out of range"),
    ({"min_disk": -1}, "Cannot be a negative value"),
    ({"min_ram": 1.5}, "min_ram"),
    ({"min_ram": "512"}, "min_ram"),
    ({"min_disk": True}, "min_disk"),
    # lengths: 255 for name, owner, tags, property names
    ({"name": "n" * 256}, "name"),
    ({"owner": "o" * 256}, "owner"),
    ({"tags": ["t" * 256]}, "tags"),
    ({"p" * 256: "v"}, "Custom property should not be greater than 255 characters."),
    # wrong JSON types
    ({"name": 5}, "name"), ({"name": {"a": 1}}, "name"), ({"name": ["x"]}, "name"),
    ({"tags": "web"}, "tags"), ({"tags": [1]}, "tags"), ({"tags": {"a": "b"}}, "tags"),
    ({"protected": "true"}, "protected"), ({"os_hidden": 1}, "os_hidden"),
    ({"visibility": ["public"]}, "visibility"), ({"disk_format": 5}, "disk_format"),
    ({"custom": 5}, "custom"), ({"custom": None}, "custom"), ({"custom": ["x"]}, "custom"),
    ({"status": 5}, "status"), ({"id": 5}, "id"),
    # enums and formats
    ({"visibility": "everyone"}, "visibility"), ({"container_format": "zip"}, "container"),
    ({"disk_format": "floppy"}, "disk_format"), ({"id": "not-a-uuid"}, "id"),
    # NUL anywhere, 4-byte unicode as Glance's database layer refuses it
    ({"name": "a\x00b"}, "Name can't contain NUL characters."),
    ({"os_distro": "deb\x00ian"}, "can't contain NUL"),
    ({"bad\x00key": "v"}, "Property names can't contain NUL"),
    ({"tags": ["ok", "t\x00"]}, "can't contain NUL"),
    ({"name": "snow \U0001F328"}, "Name can't contain 4 byte unicode characters."),
    ({"os_distro": "\U0001F600"}, "4 byte unicode"),
    # not an object
    ([{"name": "x"}], "Image body must be a JSON object."), ("x", "JSON object"), (5, ""),
])
def test_create_refused(glance: Cloud, user: dict[str, Any], body: Any, text: str) -> None:
    glance_error(create(glance, user["headers"], body), 400, text)


def test_create_read_only_and_reserved_still_answer_403(glance: Cloud,
                                                         user: dict[str, Any]) -> None:
    for body in ({"status": "active"}, {"size": 5}, {"self": 5}, {"file": {"a": 1}},
                 {"os_glance_x": "y"}, {"deleted": "x"}):
        glance_error(create(glance, user["headers"], body), 403)


def test_create_valid_edges(glance: Cloud, user: dict[str, Any]) -> None:
    img = new_image(glance, user["headers"], name="n" * 255, min_ram=2**31 - 1, min_disk=0,
                    tags=["t" * 255], owner=None, **{"p" * 255: "v" * 5000,
                                                     "tabbed": "a\tb\nc"})
    assert img["min_ram"] == 2**31 - 1 and img["name"] == "n" * 255
    assert img["tabbed"] == "a\tb\nc"  # control characters other than NUL: as Glance
    img = new_image(glance, user["headers"], name=None, container_format=None,
                    disk_format=None, **{"ünï": "çödé ✓"})
    assert img["ünï"] == "çödé ✓" and img["name"] is None


def test_create_body_and_content_type(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    r = glance.client.post(f"{V2}/images", headers={**hd, "Content-Type": "text/plain"},
                           content=b'{"name": "x"}')
    glance_error(r, 415, "application/json")
    r = glance.client.post(f"{V2}/images", headers={**hd, "Content-Type":
                                                    "application/x-www-form-urlencoded"},
                           content=b"name=x")
    glance_error(r, 415)
    glance_error(glance.client.post(f"{V2}/images", headers=hd), 400,
                 "Body expected in request.")
    r = glance.client.post(f"{V2}/images", headers={**hd, "Content-Type":
                                                    "application/json; charset=UTF-8"},
                           content=b'{"name": "charset"}')
    assert r.status_code == 201, r.text


def test_property_and_tag_limits_answer_413(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    props = {f"p{i}": "v" for i in range(128)}
    img = new_image(glance, hd, **props, tags=[f"t{i}" for i in range(128)])
    glance_error(create(glance, hd, {**props, "p128": "v"}), 413,
                 "Attempted: 129, Maximum: 128")
    glance_error(create(glance, hd, {"tags": [f"t{i}" for i in range(129)]}), 413,
                 "image tags. Attempted: 129, Maximum: 128")
    url = f"{V2}/images/{img['id']}"
    r = glance.client.patch(url, headers={**hd, **PATCH},
                            json=[{"op": "add", "path": "/one_more", "value": "x"}])
    glance_error(r, 413, "image properties")
    glance_error(glance.client.put(f"{url}/tags/one-more", headers=hd), 413, "image tags")
    # replacing a property and removing one are fine at the limit
    r = glance.client.patch(url, headers={**hd, **PATCH}, json=[
        {"op": "replace", "path": "/p0", "value": "w"}, {"op": "remove", "path": "/p1"}])
    assert r.status_code == 200, r.text
    r = glance.client.patch(url, headers={**hd, **PATCH},
                            json=[{"op": "add", "path": "/p1", "value": "back"}])
    assert r.status_code == 200, r.text
    assert glance.client.put(f"{url}/tags/t0", headers=hd).status_code == 204  # has it


# --- image PATCH ---------------------------------------------------------------------
@pytest.mark.parametrize("ops,status,text", [
    ({"op": "add"}, 400, "Request body must be a JSON array of operation objects."),
    ("x", 400, "JSON array"),
    (["x"], 400, "Operations must be JSON objects."),
    ([{"path": "/name", "value": "x"}], 400, "Unable to find `op`"),
    ([{"op": "jump", "path": "/name"}], 400, "Invalid operation: `jump`"),
    ([{"op": ["add"], "path": "/name"}], 400, "Invalid operation"),
    ([{"op": "add", "value": "x"}], 400, "Unable to find 'path'"),
    ([{"op": "add", "path": 5, "value": "x"}], 400, "JSON pointer"),
    ([{"op": "add", "path": {"a": 1}, "value": "x"}], 400, "JSON pointer"),
    ([{"op": "replace", "path": "/name"}], 400, 'requires a member named "value"'),
    ([{"op": "replace", "path": "/name", "value": "n" * 256}], 400, "name"),
    ([{"op": "replace", "path": "/name", "value": 5}], 400, "name"),
    ([{"op": "replace", "path": "/name", "value": "a\x00"}], 400, "NUL"),
    ([{"op": "replace", "path": "/name", "value": "\U0001F600"}], 400, "4 byte"),
    ([{"op": "replace", "path": "/min_ram", "value": 2**31}], 400, "must not exceed"),
    ([{"op": "replace", "path": "/min_disk", "value": "1"}], 400, "min_disk"),
    ([{"op": "replace", "path": "/protected", "value": "yes"}], 400, "protected"),
    ([{"op": "replace", "path": "/visibility", "value": "world"}], 400, "visibility"),
    ([{"op": "add", "path": "/tags", "value": "web"}], 400, "tags"),
    ([{"op": "add", "path": "/tags", "value": ["t" * 256]}], 400, "tags"),
    ([{"op": "add", "path": "/custom", "value": 7}], 400, "custom"),
    ([{"op": "add", "path": "/custom", "value": {"a": "b"}}], 400, "custom"),
    ([{"op": "add", "path": "/a\x00b", "value": "v"}], 400, "NUL"),
    ([{"op": "add", "path": "/" + "k" * 256, "value": "v"}], 400, "255"),
    # left to the service, as Glance answers them: read-only and reserved, 403
    ([{"op": "replace", "path": "/status", "value": 5}], 403, "read-only"),
    ([{"op": "add", "path": "/os_glance_x", "value": 5}], 403, "reserved"),
])
def test_patch_refused(glance: Cloud, user: dict[str, Any], ops: Any, status: int,
                       text: str) -> None:
    img = new_image(glance, user["headers"], name="patched")
    r = glance.client.patch(f"{V2}/images/{img['id']}", headers={**user["headers"], **PATCH},
                            json=ops)
    glance_error(r, status, text)
    got = glance.client.get(f"{V2}/images/{img['id']}", headers=user["headers"]).json()
    assert got["name"] == "patched"


def test_patch_content_type_and_valid_edges(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    img = new_image(glance, hd)
    url = f"{V2}/images/{img['id']}"
    # (the v2.0 patch type is accepted too: tests/api/test_image_tempest_gaps.py)
    for ctype in ("application/json", "text/plain"):
        r = glance.client.patch(url, headers={**hd, "Content-Type": ctype},
                                json=[{"op": "replace", "path": "/name", "value": "x"}])
        glance_error(r, 415, "application/openstack-images-v2.1-json-patch")
        assert "application/openstack-images-v2.1-json-patch" in r.headers["Accept-Patch"]
    r = glance.client.patch(url, headers={**hd, **PATCH}, json=[
        {"op": "replace", "path": "/name", "value": None},
        {"op": "replace", "path": "/min_ram", "value": 2**31 - 1},
        {"op": "add", "path": "/tags", "value": []},
        {"op": "add", "path": "/a~1b", "value": "slash"},
        {"op": "add", "path": "/ctl", "value": "x\ty"},
        {"op": "remove", "path": "/ctl", "value": 5}])  # a remove's value is ignored
    assert r.status_code == 200, r.text
    assert r.json()["a/b"] == "slash" and r.json()["min_ram"] == 2**31 - 1
    assert glance.client.patch(url, headers={**hd, **PATCH}, json=[]).status_code == 200


# --- tags ----------------------------------------------------------------------------
def test_tags(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    url = f"{V2}/images/{new_image(glance, hd)['id']}/tags"
    glance_error(glance.client.put(f"{url}/{'t' * 256}", headers=hd), 400, "too long")
    glance_error(glance.client.put(f"{url}/a%00b", headers=hd), 400, "NUL")
    glance_error(glance.client.put(f"{url}/%F0%9F%98%80", headers=hd), 400, "4 byte")
    assert glance.client.put(f"{url}/{'t' * 255}", headers=hd).status_code == 204
    assert glance.client.put(f"{url}/%C3%BCber", headers=hd).status_code == 204
    glance_error(glance.client.delete(f"{url}/{'t' * 256}", headers=hd), 404)
    glance_error(glance.client.delete(f"{url}/a%00b", headers=hd), 404)
    assert glance.client.delete(f"{url}/{'t' * 255}", headers=hd).status_code == 204


# --- members -------------------------------------------------------------------------
def test_members(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    img = new_image(glance, hd, visibility="shared")
    url = f"{V2}/images/{img['id']}/members"
    for body, text in (({}, "Member to be added not specified"),
                       ({"member": ""}, "Member can't be empty"),
                       ({"member": 5}, "member"), ({"member": ["p"]}, "member"),
                       ({"member": "m" * 256}, "member"), ({"member": "a\x00"}, "NUL"),
                       ([], 'Expected a member in the form: {"member": "image_id"}'),
                       ("p", "Expected a member")):
        glance_error(glance.client.post(url, headers=hd, json=body), 400, text)
    r = glance.client.post(url, headers={**hd, "Content-Type": "text/plain"},
                           content=b'{"member": "x"}')
    glance_error(r, 415)
    other = glance.make_project_user()
    r = glance.client.post(url, headers=hd, json={"member": other["project_id"]})
    assert r.status_code == 200, r.text
    murl = f"{url}/{other['project_id']}"
    oh = other["headers"]
    for body, text in (({}, "Status not specified"), ({"status": "maybe"}, "Invalid status"),
                       ({"status": 5}, "Invalid status"), ({"status": None}, "Invalid status"),
                       (["accepted"], "Expected a status in the form")):
        glance_error(glance.client.put(murl, headers=oh, json=body), 400, text)
    r = glance.client.put(murl, headers=oh, json={"status": "accepted", "extra": 1})
    assert r.status_code == 200 and r.json()["status"] == "accepted"


def test_member_limit_answers_413(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    url = f"{V2}/images/{new_image(glance, hd, visibility='shared')['id']}/members"
    for i in range(128):
        assert glance.client.post(url, headers=hd,
                                  json={"member": f"project-{i}"}).status_code == 200
    glance_error(glance.client.post(url, headers=hd, json={"member": "one-more"}), 413,
                 "image members for this image. Attempted: 129, Maximum: 128")


# --- import --------------------------------------------------------------------------
@pytest.mark.parametrize("body,text", [
    ({}, "Import request requires a 'method' field."),
    ({"method": "glance-direct"}, "Import request requires a 'name' field."),
    ({"method": {}}, "Import request requires a 'name' field."),
    ({"method": {"name": 5}}, "name"),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, "'all_stores' must be"),
    ({"method": {"name": "glance-direct"}, "stores": "file"}, "stores"),
    ([], "Import request requires a 'method' field."),
])
def test_import_refused(glance: Cloud, user: dict[str, Any], body: Any, text: str) -> None:
    img = new_image(glance, user["headers"])
    r = glance.client.post(f"{V2}/images/{img['id']}/import", headers=user["headers"],
                           json=body)
    glance_error(r, 400, text)


# --- GET /v2/images ------------------------------------------------------------------
@pytest.mark.parametrize("query,text", [
    ("limit=x", "limit param must be an integer"),
    ("limit=-1", "limit param must be positive"),
    ("limit=1.5", "limit param must be an integer"),
    ("sort_key=colour", "Invalid sort key: colour. It must be one of the following"),
    ("sort_key=name&sort_key=colour", "Invalid sort key: colour"),
    ("sort_dir=up", "Invalid sort direction: up"),
    ("visibility=world", "Invalid visibility value: world"),
    ("member_status=maybe", "Invalid status: maybe"),
    ("status=flying", "Invalid status value: flying"),
    (f"size_min={2**63}", "Invalid value for size_min"),
    (f"size_max={10**30}", "Invalid value for size_max"),
    ("size_max=big", "Invalid value for size_max"),
    ("protected=maybe", "Invalid value for protected"),
    ("os_hidden=2", "Invalid value for os_hidden"),
    ("changes-since=2020-01-01", 'The "changes-since" filter is no longer available'),
    ("name=a%00b", "NUL"),
    ("tag=a%00&tag=b", "NUL"),
    ("os_distro=x%00", "NUL"),
    ("marker=" + "m" * 300, "marker"),
    ("created_at=gt:yesterday", "created_at"),
])
def test_list_query_refused(glance: Cloud, user: dict[str, Any], query: str,
                            text: str) -> None:
    r = glance.client.get(f"{V2}/images?{query}", headers=user["headers"])
    glance_error(r, 400, text)


def test_list_query_valid_edges(glance: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    new_image(glance, hd, name="listed", tags=["a", "b"], os_distro="ünï")
    for query in ("limit=0", "limit=", f"limit={10**30}", "sort_key=name&sort_key=size",
                  "sort_key=name&sort_dir=asc", "sort=name:asc,size", "protected=TRUE",
                  "os_hidden=false", "visibility=all", "member_status=all",
                  "status=in:queued,active", f"size_max={2**63 - 1}", "size_min=-1",
                  "created_at=gte:2020-01-01T00:00:00Z", "tag=a&tag=b", "name=x%09y",
                  "limit=1"):
        r = glance.client.get(f"{V2}/images?{query}", headers=hd)
        assert r.status_code == 200, (query, r.text)
    r = glance.client.get(f"{V2}/images?tag=a&tag=b&os_distro=%C3%BCn%C3%AF", headers=hd)
    assert [i["name"] for i in r.json()["images"]] == ["listed"]


def test_openapi_lists_every_image_schema(glance: Cloud) -> None:
    doc = glance.client.get("/openapi.json").json()["paths"]
    json_ = "application/json"
    assert doc["/image/v2/images"]["post"]["requestBody"]["content"][json_]["schema"] == \
        IMAGE.schema
    assert doc["/image/v2/images/{image_id}"]["patch"]["requestBody"]["content"][json_][
        "schema"] == IMAGE_PATCH.schema
    names = {p["name"] for p in doc["/image/v2/images"]["get"]["parameters"]}
    assert set(IMAGE_LIST_QUERY.schema["properties"]) == names
    for path, method in (("/image/v2/images/{image_id}/members", "post"),
                         ("/image/v2/images/{image_id}/members/{member_id}", "put"),
                         ("/image/v2/images/{image_id}/import", "post")):
        assert "requestBody" in doc[path][method], path
