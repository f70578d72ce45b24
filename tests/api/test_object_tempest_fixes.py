"""Swift v1 behaviours Tempest's object storage tests found missing: healthcheck,
bulk delete by DELETE, unknown listing formats, empty object metadata, COPY's
answer headers, temp URLs judged before tokens, `inline` without a filename, and
deleting a container whose only objects have expired."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud


@pytest.fixture(scope="module")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    # the expirer is off: expired objects stay in the table until something reaps
    gen = build_cloud(tmp_path_factory.mktemp("swift-fixes"), object_expirer_interval=0.0)
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture
def user(swift: Cloud) -> dict[str, Any]:
    u = swift.make_project_user("member", prefix="objfix")
    u["url"] = f"/object/v1/AUTH_{u['project_id']}"
    return u


def _sig(key: str, method: str, path: str, expires: int) -> dict[str, str]:
    mac = hmac.new(key.encode(), f"{method}\n{expires}\n{path}".encode(), hashlib.sha256)
    return {"temp_url_sig": mac.hexdigest(), "temp_url_expires": str(expires)}


def test_healthcheck_answers_ok_without_a_token(swift: Cloud) -> None:
    r = swift.client.get("/object/healthcheck")
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["Content-Type"].startswith("text/plain")


def test_bulk_delete_by_delete(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/bd", headers=h)
    c.put(f"{url}/bd/a", headers=h, content=b"x")
    r = c.request("DELETE", url, params={"bulk-delete": ""}, content=b"bd/a\nbd",
                  headers={**h, "Content-Type": "text/plain", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["Number Deleted"] == 2
    assert c.head(f"{url}/bd", headers=h).status_code == 404
    # without ?bulk-delete an account DELETE is still refused
    assert c.delete(url, headers=h).status_code == 405


def test_unknown_listing_format_is_plain_text(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/fmt", headers=h)
    c.put(f"{url}/fmt/one", headers=h, content=b"1")
    r = c.get(f"{url}/fmt", params={"format": "txt"}, headers=h)
    assert r.status_code == 200 and r.text == "one\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    r = c.get(f"{url}/fmt", params={"format": "JSON"}, headers=h)
    assert r.json()[0]["name"] == "one"


def test_object_keeps_empty_metadata(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/em", headers=h)
    assert c.put(f"{url}/em/o", headers={**h, "X-Object-Meta-Blank": ""},
                 content=b"x").status_code == 201
    r = c.get(f"{url}/em/o", headers=h)
    assert r.headers["X-Object-Meta-Blank"] == ""
    assert c.post(f"{url}/em/o", headers={**h, "X-Object-Meta-Other": ""}
                  ).status_code == 202
    r = c.head(f"{url}/em/o", headers=h)
    assert r.headers["X-Object-Meta-Other"] == "" and "X-Object-Meta-Blank" not in r.headers
    # on a container an empty value still removes the item
    c.post(f"{url}/em", headers={**h, "X-Container-Meta-K": "v"})
    c.post(f"{url}/em", headers={**h, "X-Container-Meta-K": ""})
    assert "X-Container-Meta-K" not in c.head(f"{url}/em", headers=h).headers


def test_copy_answers_with_the_new_objects_metadata(swift: Cloud,
                                                    user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/cp", headers=h)
    c.put(f"{url}/cp/src", headers={**h, "X-Object-Meta-Src": "s"}, content=b"data")
    r = c.request("COPY", f"{url}/cp/src", headers={
        **h, "Destination": "cp/dst", "X-Object-Meta-Test": "t"})
    assert r.status_code == 201, r.text
    assert r.headers["X-Object-Meta-Src"] == "s" and r.headers["X-Object-Meta-Test"] == "t"
    assert r.headers["X-Copied-From"] == "cp/src"
    r = c.put(f"{url}/cp/dst2", headers={**h, "X-Copy-From": "cp/src"})
    assert r.status_code == 201 and r.headers["X-Object-Meta-Src"] == "s"


def test_tempurl_is_judged_even_with_a_token(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.post(url, headers={**h, "X-Account-Meta-Temp-Url-Key": "k"})
    c.put(f"{url}/tu", headers=h)
    c.put(f"{url}/tu/o", headers=h, content=b"body")
    path = f"/v1/AUTH_{user['project_id']}/tu/o"
    past = int(time.time()) - 5
    # the owner's token does not rescue an expired or a wrong signature
    r = c.get(f"{url}/tu/o", params=_sig("k", "GET", path, past), headers=h)
    assert r.status_code == 401
    r = c.get(f"{url}/tu/o", params=_sig("wrong", "GET", path, past + 3600), headers=h)
    assert r.status_code == 401
    r = c.get(f"{url}/tu/o", params=_sig("k", "GET", path, past + 3600), headers=h)
    assert r.status_code == 200 and r.content == b"body"


def test_tempurl_inline_without_filename(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.post(url, headers={**h, "X-Account-Meta-Temp-Url-Key": "k"})
    c.put(f"{url}/in", headers=h)
    c.put(f"{url}/in/o.txt", headers=h, content=b"body")
    path = f"/v1/AUTH_{user['project_id']}/in/o.txt"
    q = _sig("k", "GET", path, int(time.time()) + 600)
    r = c.get(f"{url}/in/o.txt", params={**q, "inline": ""})
    assert r.status_code == 200 and r.headers["Content-Disposition"] == "inline"
    r = c.get(f"{url}/in/o.txt", params={**q, "inline": "", "filename": "a.txt"})
    assert r.headers["Content-Disposition"] == 'inline; filename="a.txt"'
    r = c.get(f"{url}/in/o.txt", params={**q, "filename": "a.txt"})
    assert r.headers["Content-Disposition"] == 'attachment; filename="a.txt"'
    # by temp URL with neither: an attachment named after the object ...
    r = c.get(f"{url}/in/o.txt", params=q)
    assert r.headers["Content-Disposition"] == 'attachment; filename="o.txt"'
    # ... unless the object has its own disposition; a token GET adds none
    c.post(f"{url}/in/o.txt", headers={**h, "Content-Disposition": "inline"})
    assert c.get(f"{url}/in/o.txt", params=q).headers["Content-Disposition"] == "inline"
    c.post(f"{url}/in/o.txt", headers=h)
    assert "Content-Disposition" not in c.get(f"{url}/in/o.txt", headers=h).headers


def test_container_with_only_expired_objects_deletes(swift: Cloud,
                                                     user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/ex", headers=h)
    at = int(time.time()) + 1
    assert c.put(f"{url}/ex/gone", headers={**h, "X-Delete-At": str(at)},
                 content=b"x").status_code == 201
    c.put(f"{url}/ex/kept", headers=h, content=b"y")
    time.sleep(max(0.0, at - time.time() + 1.1))
    assert c.get(f"{url}/ex/gone", headers=h).status_code == 404
    # a live object still keeps the container; the expired one no longer counts
    assert c.delete(f"{url}/ex", headers=h).status_code == 409
    assert c.head(f"{url}/ex", headers=h).headers["X-Container-Object-Count"] == "1"
    assert c.delete(f"{url}/ex/kept", headers=h).status_code == 204
    assert c.delete(f"{url}/ex", headers=h).status_code == 204
    assert c.head(f"{url}/ex", headers=h).status_code == 404
