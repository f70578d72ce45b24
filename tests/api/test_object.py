"""Swift v1: accounts, containers, objects, listings, ranges, large objects,
ACLs, temp URLs, quotas, expiry and crash safety, against the in-process app."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Cloud, build_cloud


@pytest.fixture(scope="module")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("swift"), object_expirer_interval=0.0)
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture
def user(swift: Cloud) -> dict[str, Any]:
    u = swift.make_project_user("member", prefix="obj")
    u["url"] = f"/object/v1/AUTH_{u['project_id']}"
    return u


def test_catalog_and_info(swift: Cloud, user: dict[str, Any]) -> None:
    r = swift.client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": user["username"], "domain": {"name": "Default"},
            "password": user["password"]}}},
        "scope": {"project": {"id": user["project_id"]}}}})
    entry = [s for s in r.json()["token"]["catalog"] if s["type"] == "object-store"][0]
    urls = {ep["url"] for ep in entry["endpoints"]}
    assert all(u.endswith(f"/object/v1/AUTH_{user['project_id']}") for u in urls)
    info = swift.client.get("/object/info").json()
    assert info["swift"]["max_file_size"] == 5368709122
    assert "slo" in info and set(info["tempurl"]["allowed_digests"]) == {
        "sha1", "sha256", "sha512"}


def test_container_and_object_round_trip(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    r = c.head(url, headers=h)
    assert r.status_code == 204 and r.headers["X-Account-Container-Count"] == "0"
    # Tempest's format checks: Swift's transaction ids, digits where counts are
    assert re.match(r"^tx[0-9a-f]{21}-[0-9a-f]{10}$", r.headers["X-Trans-Id"])
    assert r.headers["X-Openstack-Request-Id"] and r.headers["Content-Type"]
    assert c.put(f"{url}/photos", headers=h).status_code == 201
    assert c.put(f"{url}/photos", headers=h).status_code == 202
    data = b"meow" * 1000
    r = c.put(f"{url}/photos/cat.jpg", headers={**h, "X-Object-Meta-Color": "grey"},
              content=data)
    assert r.status_code == 201, r.text
    assert r.headers["Etag"] == hashlib.md5(data).hexdigest()
    r = c.get(f"{url}/photos/cat.jpg", headers=h)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["X-Object-Meta-Color"] == "grey"
    assert r.headers["Accept-Ranges"] == "bytes" and "X-Timestamp" in r.headers
    assert r.headers["Content-Length"] == str(len(data))
    r = c.head(f"{url}/photos", headers=h)
    assert r.headers["X-Container-Object-Count"] == "1"
    assert r.headers["X-Container-Bytes-Used"] == str(len(data))
    r = c.head(url, headers=h)
    assert r.headers["X-Account-Storage-Policy-Policy-0-Object-Count"] == "1"
    assert r.headers["X-Account-Object-Count"] == "1"
    assert r.headers["X-Account-Bytes-Used"] == str(len(data))
    # a container that holds an object is not deleted
    r = c.delete(f"{url}/photos", headers=h)
    assert r.status_code == 409
    # POST replaces the object's metadata
    r = c.post(f"{url}/photos/cat.jpg", headers={**h, "X-Object-Meta-Size": "small"})
    assert r.status_code == 202
    r = c.head(f"{url}/photos/cat.jpg", headers=h)
    assert r.headers["X-Object-Meta-Size"] == "small" and "X-Object-Meta-Color" not in r.headers
    assert c.delete(f"{url}/photos/cat.jpg", headers=h).status_code == 204
    assert c.get(f"{url}/photos/cat.jpg", headers=h).status_code == 404
    # a trailing slash names the container, as Swift splits paths
    assert c.head(f"{url}/photos/", headers=h).headers["X-Container-Object-Count"] == "0"
    assert c.delete(f"{url}/photos", headers=h).status_code == 204
    assert c.head(f"{url}/photos", headers=h).status_code == 404


def test_put_checks_etag_and_names(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/box", headers=h)
    r = c.put(f"{url}/box/x", headers={**h, "ETag": "0" * 32}, content=b"abc")
    assert r.status_code == 422
    assert c.get(f"{url}/box/x", headers=h).status_code == 404
    r = c.put(f"{url}/box/" + "n" * 1025, headers=h, content=b"")
    assert r.status_code == 400 and "longer than 1024" in r.text
    r = c.put(f"{url}/" + "c" * 257, headers=h)
    assert r.status_code == 400 and "longer than 256" in r.text
    r = c.put(f"{url}/box/m", headers={**h, "X-Object-Meta-" + "k" * 129: "v"}, content=b"")
    assert r.status_code == 400
    r = c.get(url, headers=h, params={"limit": "10001"})
    assert r.status_code == 412
    # an unknown format is not refused: Swift's listing_formats answers plain text
    r = c.get(url, headers=h, params={"format": "yaml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")


def _names(swift: Cloud, user: dict[str, Any], container: str, **params: Any) -> list[str]:
    r = swift.client.get(f"{user['url']}/{container}", headers=user["headers"],
                         params={"format": "json", **params})
    assert r.status_code == 200, r.text
    return [e.get("name") or e["subdir"] for e in r.json()]


def test_listing_parameters(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/list", headers=h)
    for name in ["a/1", "a/2", "b/1", "c", "d/x/y", "é"]:
        assert c.put(f"{url}/list/{name}", headers=h, content=b"x").status_code == 201
    assert _names(swift, user, "list") == ["a/1", "a/2", "b/1", "c", "d/x/y", "é"]
    assert _names(swift, user, "list", prefix="a/") == ["a/1", "a/2"]
    assert _names(swift, user, "list", delimiter="/") == ["a/", "b/", "c", "d/", "é"]
    assert _names(swift, user, "list", prefix="d/", delimiter="/") == ["d/x/"]
    assert _names(swift, user, "list", marker="a/2", limit=2) == ["b/1", "c"]
    assert _names(swift, user, "list", end_marker="b") == ["a/1", "a/2"]
    assert _names(swift, user, "list", reverse="true", limit=2) == ["é", "d/x/y"]
    assert _names(swift, user, "list", reverse="true", delimiter="/") == [
        "é", "d/", "c", "b/", "a/"]
    r = c.get(f"{url}/list", headers=h, params={"prefix": "a/"})
    assert r.text == "a/1\na/2\n" and r.headers["Content-Type"].startswith("text/plain")
    r = c.get(f"{url}/list", headers={**h, "Accept": "application/xml"},
              params={"prefix": "c"})
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<container name="list">')
    assert "<name>c</name><hash>" in r.text
    entry = c.get(f"{url}/list", headers=h, params={"format": "json", "prefix": "c"}).json()[0]
    assert set(entry) == {"name", "hash", "bytes", "content_type", "last_modified"}
    assert c.get(f"{url}/list", headers=h, params={"prefix": "zz"}).status_code == 204
    assert c.get(f"{url}/list", headers=h, params={"prefix": "zz", "format": "json"}
                 ).json() == []
    acct = c.get(url, headers=h, params={"format": "json"}).json()
    assert {
        k: v for k, v in next(a for a in acct if a["name"] == "list").items()
        if k != "last_modified"} == {"name": "list", "count": 6, "bytes": 6}


def test_ranges_and_conditionals(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/r", headers=h)
    data = bytes(range(256)) * 4
    etag = c.put(f"{url}/r/o", headers=h, content=data).headers["Etag"]
    r = c.get(f"{url}/r/o", headers={**h, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert c.get(f"{url}/r/o", headers={**h, "Range": "bytes=-5"}).content == data[-5:]
    r = c.get(f"{url}/r/o", headers={**h, "Range": "bytes=0-1,10-11"})
    assert r.status_code == 206
    assert r.headers["Content-Type"].startswith("multipart/byteranges;boundary=")
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert data[0:2] in r.content and data[10:12] in r.content
    assert c.get(f"{url}/r/o", headers={**h, "Range": "bytes=5000-"}).status_code == 416
    many = ",".join(f"{i}-{i}" for i in range(51))
    assert c.get(f"{url}/r/o", headers={**h, "Range": f"bytes={many}"}).status_code == 416
    assert c.get(f"{url}/r/o", headers={**h, "Range": "bytes=0-9,1-8,2-7,3-6"}
                 ).status_code == 416
    assert c.get(f"{url}/r/o", headers={**h, "Range": "bytes=junk"}).status_code == 200
    assert c.get(f"{url}/r/o", headers={**h, "If-None-Match": etag}).status_code == 304
    assert c.get(f"{url}/r/o", headers={**h, "If-Match": "nope"}).status_code == 412
    assert c.get(f"{url}/r/o", headers={**h, "If-Match": etag}).status_code == 200
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
    earlier = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert c.get(f"{url}/r/o", headers={**h, "If-Modified-Since": later}).status_code == 304
    assert c.get(f"{url}/r/o", headers={**h, "If-Unmodified-Since": earlier}
                 ).status_code == 412


def test_copy_and_x_copy_from(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/src", headers=h)
    c.put(f"{url}/src/a", headers={**h, "X-Object-Meta-K": "v"}, content=b"hello")
    r = c.request("COPY", f"{url}/src/a", headers={**h, "Destination": "src/b"})
    assert r.status_code == 201 and r.headers["X-Copied-From"] == "src/a"
    assert c.get(f"{url}/src/b", headers=h).content == b"hello"
    assert c.head(f"{url}/src/b", headers=h).headers["X-Object-Meta-K"] == "v"
    r = c.put(f"{url}/src/c", headers={**h, "X-Copy-From": "/src/a", "Content-Length": "0"})
    assert r.status_code == 201
    assert c.get(f"{url}/src/c", headers=h).content == b"hello"
    # the copies are independent of the source
    c.delete(f"{url}/src/a", headers=h)
    assert c.get(f"{url}/src/b", headers=h).content == b"hello"


def test_large_objects(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/big", headers=h)
    c.put(f"{url}/big_segments", headers=h)
    parts = [b"a" * 100, b"b" * 100, b"c" * 50]
    etags = []
    for i, p in enumerate(parts):
        etags.append(c.put(f"{url}/big_segments/s/{i:08d}", headers=h, content=p
                           ).headers["Etag"])
    # DLO
    r = c.put(f"{url}/big/dlo", headers={**h, "X-Object-Manifest": "big_segments/s/"},
              content=b"")
    assert r.status_code == 201
    r = c.get(f"{url}/big/dlo", headers=h)
    assert r.content == b"".join(parts)
    assert r.headers["Etag"] == '"' + hashlib.md5("".join(etags).encode()).hexdigest() + '"'
    assert c.get(f"{url}/big/dlo", headers={**h, "Range": "bytes=95-104"}
                 ).content == b"a" * 5 + b"b" * 5
    # SLO, with a bad segment refused
    manifest = [{"path": f"/big_segments/s/{i:08d}", "etag": e, "size_bytes": len(p)}
                for i, (e, p) in enumerate(zip(etags, parts, strict=True))]
    bad = [*manifest, {"path": "/big_segments/missing", "etag": None, "size_bytes": None}]
    r = c.put(f"{url}/big/slo", headers=h, params={"multipart-manifest": "put"},
              content=json.dumps(bad))
    assert r.status_code == 400 and "404 Not Found" in r.text
    r = c.put(f"{url}/big/slo", headers=h, params={"multipart-manifest": "put"},
              content=json.dumps(manifest))
    assert r.status_code == 201, r.text
    r = c.get(f"{url}/big/slo", headers=h)
    assert r.content == b"".join(parts) and r.headers["X-Static-Large-Object"] == "True"
    assert r.headers["Etag"] == '"' + hashlib.md5("".join(etags).encode()).hexdigest() + '"'
    assert c.get(f"{url}/big/slo", headers={**h, "Range": "bytes=199-200"}
                 ).content == b"bc"
    got = c.get(f"{url}/big/slo", headers=h, params={"multipart-manifest": "get"}).json()
    assert [s["name"] for s in got] == [m["path"] for m in manifest]
    r = c.delete(f"{url}/big/slo", headers={**h, "Accept": "application/json"},
                 params={"multipart-manifest": "delete"})
    assert r.status_code == 200 and r.json()["Number Deleted"] == 4
    assert _names(swift, user, "big_segments") == []


def test_acls_and_isolation(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    other = swift.make_project_user("member", prefix="other")
    reader = swift.make_project_user("reader", prefix="rd")
    c.put(f"{url}/priv", headers=h)
    c.put(f"{url}/priv/o", headers=h, content=b"secret")
    # another project's account: 403 for its token, 401 anonymous
    assert c.get(f"{url}/priv/o", headers=other["headers"]).status_code == 403
    assert c.get(url, headers=other["headers"]).status_code == 403
    assert c.put(f"{url}/mine", headers=other["headers"]).status_code == 403
    assert c.get(f"{url}/priv/o").status_code == 401
    # the cloud admin is no reseller admin: another account stays closed
    assert c.get(url, headers=swift.admin()).status_code == 403
    # a reader of the project reads but does not write
    rurl = f"/object/v1/AUTH_{reader['project_id']}"
    assert c.put(f"{rurl}/x", headers=reader["headers"]).status_code == 403
    assert c.get(rurl, headers=reader["headers"]).status_code in (200, 204)
    # a read ACL for the other project's user
    r = c.post(f"{url}/priv", headers={
        **h, "X-Container-Read": f"{other['project_id']}:{other['user_id']}"})
    assert r.status_code == 204
    assert c.get(f"{url}/priv/o", headers=other["headers"]).content == b"secret"
    # an ACL reader sees the container, not its ACLs or keys (swift_owner_headers)
    c.post(f"{url}/priv", headers={**h, "X-Container-Meta-Temp-URL-Key": "k"})
    seen = c.head(f"{url}/priv", headers=other["headers"])
    assert seen.status_code == 204 and "X-Container-Read" not in seen.headers
    assert "X-Container-Meta-Temp-Url-Key" not in seen.headers
    assert c.head(f"{url}/priv", headers=h).headers["X-Container-Meta-Temp-Url-Key"] == "k"
    assert c.put(f"{url}/priv/o", headers=other["headers"], content=b"x").status_code == 403
    # write ACL: project:*
    c.post(f"{url}/priv", headers={**h, "X-Container-Write": f"{other['project_id']}:*"})
    assert c.put(f"{url}/priv/o2", headers=other["headers"], content=b"x").status_code == 201
    assert c.delete(f"{url}/priv", headers=other["headers"]).status_code == 403
    # referrers are refused in a write ACL
    assert c.post(f"{url}/priv", headers={**h, "X-Container-Write": ".r:*"}
                  ).status_code == 400
    # public read: objects yes, listing only with .rlistings
    c.post(f"{url}/priv", headers={**h, "X-Container-Read": ".r:*"})
    assert c.get(f"{url}/priv/o").content == b"secret"
    assert c.get(f"{url}/priv").status_code == 401
    c.post(f"{url}/priv", headers={**h, "X-Container-Read": ".r:*,.rlistings"})
    assert c.get(f"{url}/priv").text == "o\no2\n"
    assert c.put(f"{url}/priv/o3", content=b"x").status_code == 401
    # referrer-restricted
    c.post(f"{url}/priv", headers={**h, "X-Container-Read": ".r:.example.com"})
    assert c.get(f"{url}/priv/o", headers={"Referer": "http://www.example.com/a"}
                 ).status_code == 200
    assert c.get(f"{url}/priv/o", headers={"Referer": "http://evil.org/"}).status_code == 401


def test_reseller_admin_reaches_other_accounts(swift: Cloud, user: dict[str, Any]) -> None:
    c = swift.client
    r = c.post("/identity/v3/roles", headers=swift.admin(), json={"role": {
        "name": "ResellerAdmin"}})
    assert r.status_code in (201, 409)
    reseller = swift.make_project_user("ResellerAdmin", prefix="rs")
    c.put(f"{user['url']}/q", headers=user["headers"])
    assert c.head(user["url"], headers=reseller["headers"]).status_code == 204
    # only the reseller sets the account quota
    assert c.post(user["url"], headers={**user["headers"], "X-Account-Meta-Quota-Bytes": "10"}
                  ).status_code == 403
    assert c.post(user["url"], headers={**reseller["headers"],
                                        "X-Account-Meta-Quota-Bytes": "10"}).status_code == 204
    assert c.put(f"{user['url']}/q/o", headers=user["headers"], content=b"x" * 11
                 ).status_code == 413
    assert c.put(f"{user['url']}/q/o", headers=user["headers"], content=b"x" * 10
                 ).status_code == 201


def test_container_quotas(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/qq", headers={**h, "X-Container-Meta-Quota-Count": "1",
                                "X-Container-Meta-Quota-Bytes": "5"})
    assert c.put(f"{url}/qq/a", headers=h, content=b"123456").status_code == 413
    assert c.put(f"{url}/qq/a", headers=h, content=b"12345").status_code == 201
    assert c.put(f"{url}/qq/b", headers=h, content=b"").status_code == 413
    # an overwrite is within the count
    assert c.put(f"{url}/qq/a", headers=h, content=b"123").status_code == 201
    assert c.put(f"{url}/bad", headers={**h, "X-Container-Meta-Quota-Bytes": "x"}
                 ).status_code == 400


def _tempurl(key: str, method: str, path: str, expires: int, algo: Any = hashlib.sha256
             ) -> dict[str, str]:
    sig = hmac.new(key.encode(), f"{method}\n{expires}\n{path}".encode(), algo).hexdigest()
    return {"temp_url_sig": sig, "temp_url_expires": str(expires)}


def test_tempurl(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.post(url, headers={**h, "X-Account-Meta-Temp-URL-Key": "sekrit"})
    c.put(f"{url}/t", headers=h)
    c.put(f"{url}/t/o", headers={**h, "X-Object-Meta-Private": "1",
                                 "X-Object-Meta-Public-Color": "red"}, content=b"shared")
    path = f"/v1/AUTH_{user['project_id']}/t/o"
    later = int(time.time()) + 600
    for algo in (hashlib.sha1, hashlib.sha256, hashlib.sha512):
        r = c.get(f"{url}/t/o", params=_tempurl("sekrit", "GET", path, later, algo))
        assert r.status_code == 200 and r.content == b"shared"
    r = c.head(f"{url}/t/o", params=_tempurl("sekrit", "GET", path, later))
    assert r.status_code == 200
    # tempurl's outgoing_remove_headers / outgoing_allow_headers
    assert "X-Object-Meta-Private" not in r.headers
    assert r.headers["X-Object-Meta-Public-Color"] == "red"
    assert c.get(f"{url}/t/o", params=_tempurl("wrong", "GET", path, later)).status_code == 401
    assert c.get(f"{url}/t/o", params=_tempurl("sekrit", "GET", path, int(time.time()) - 1)
                 ).status_code == 401
    assert c.put(f"{url}/t/o", params=_tempurl("sekrit", "GET", path, later),
                 content=b"x").status_code == 401
    r = c.put(f"{url}/t/o", params=_tempurl("sekrit", "PUT", path, later), content=b"new")
    assert r.status_code == 201
    # a container key works too
    c.post(f"{url}/t", headers={**h, "X-Container-Meta-Temp-URL-Key": "ckey"})
    r = c.get(f"{url}/t/o", params={**_tempurl("ckey", "GET", path, later), "filename": "x.txt"})
    assert r.content == b"new"
    assert r.headers["Content-Disposition"] == 'attachment; filename="x.txt"'
    # a prefix-based temp URL covers every object under the prefix, no other
    c.put(f"{url}/t/pub/a", headers=h, content=b"A")
    base = f"/v1/AUTH_{user['project_id']}/t/"
    sig = hmac.new(b"sekrit", f"GET\n{later}\nprefix:{base}pub/".encode(),
                   hashlib.sha256).hexdigest()
    q = {"temp_url_sig": sig, "temp_url_expires": str(later), "temp_url_prefix": "pub/"}
    assert c.get(f"{url}/t/pub/a", params=q).content == b"A"
    assert c.get(f"{url}/t/o", params=q).status_code == 401


def test_expiry(swift: Cloud, user: dict[str, Any]) -> None:
    from overcast.object import objects

    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/exp", headers=h)
    r = c.put(f"{url}/exp/soon", headers={**h, "X-Delete-After": "5"}, content=b"x")
    assert r.status_code == 201
    delete_at = int(c.head(f"{url}/exp/soon", headers=h).headers["X-Delete-At"])
    assert c.put(f"{url}/exp/past", headers={**h, "X-Delete-At": "1000"}, content=b"x"
                 ).status_code == 400
    time.sleep(max(0.0, delete_at - time.time() + 1.1))
    assert c.get(f"{url}/exp/soon", headers=h).status_code == 404
    assert _names(swift, user, "exp") == []
    store = swift.app.state.object_store
    assert objects.reap_expired(store) >= 1
    assert c.head(f"{url}/exp", headers=h).headers["X-Container-Object-Count"] == "0"
    assert c.delete(f"{url}/exp", headers=h).status_code == 204


def test_bulk_delete(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/bulk", headers=h)
    for n in ("a", "b"):
        c.put(f"{url}/bulk/{n}", headers=h, content=b"x")
    r = c.post(url, params={"bulk-delete": "1"}, headers={
        **h, "Accept": "application/json", "Content-Type": "text/plain"},
        content=b"/bulk/a\n/bulk/b\n/bulk/zz\n/bulk\n")
    assert r.status_code == 200, r.text
    assert r.json()["Number Deleted"] == 3 and r.json()["Number Not Found"] == 1


def test_error_bodies_are_swifts(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    r = c.get(f"{url}/nope/x", headers=h)
    assert r.status_code == 404
    assert r.text == "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
    assert "X-Trans-Id" in r.headers


def test_listing_many_objects_is_an_index_scan(swift: Cloud, user: dict[str, Any]) -> None:
    from sqlalchemy import insert, select

    from overcast.object import models as m

    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/many", headers=h)
    db = swift.app.state.db
    with db.transaction() as s:
        cid = s.scalar(select(m.Container.id).where(
            m.Container.name == "many", m.Container.account == f"AUTH_{user['project_id']}"))
        s.execute(insert(m.Object), [
            {"container_id": cid, "name": f"d{i % 10}/o{i:06d}", "size": 1, "etag": "e",
             "content_type": "text/plain", "timestamp": 1.0, "meta": {}, "headers": {}}
            for i in range(100_000)])
    # what the listings ask SQLite, and how SQLite answers it: an index search
    # from the marker, never a scan of the container's 100,000 rows (a plan,
    # not a timing: timings flake on a loaded machine)
    from sqlalchemy import event

    asked: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if "object_objects" in statement and statement.lstrip().upper().startswith("SELECT"):
            asked.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        got = _names(swift, user, "many", prefix="d3/", marker="d3/o050003", limit=100)
        assert _names(swift, user, "many", delimiter="/") == [f"d{i}/" for i in range(10)]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert got[0] == "d3/o050013" and len(got) == 100
    assert asked, "the listings read no object rows?"
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        if not sqlite:
            raw.execute("ANALYZE object_objects")
        for statement, params in asked:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = [str(row[-1]) for row in raw.execute(explain + statement, params or ())]
            # SQLite: "SCAN object_objects" without an index; PostgreSQL: "Seq Scan"
            scans = [p for p in plan if "object_objects" in p and (
                (p.startswith("SCAN") and "INDEX" not in p) or "Seq Scan" in p)]
            assert not scans, (statement, plan)


def test_interrupted_upload_leaves_nothing(swift: Cloud, user: dict[str, Any]) -> None:
    """A client that drops mid-body: no object, no temporary or orphan file."""
    import asyncio

    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/crash", headers=h)
    root = swift.data_dir / "objects"
    before = {p for p in root.rglob("*") if p.is_file()}
    messages = [{"type": "http.request", "body": b"x" * 65536, "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": f"{url}/crash/half",
             "raw_path": f"{url}/crash/half".encode(), "query_string": b"",
             "headers": [(b"x-auth-token", h["X-Auth-Token"].encode()),
                         (b"content-length", b"1000000"), (b"host", b"testserver")],
             "http_version": "1.1", "scheme": "http", "server": ("testserver", 80),
             "client": ("127.0.0.1", 1), "root_path": "", "app": swift.app,
             "state": {}}
    asyncio.run(swift.app(scope, receive, send))
    assert c.get(f"{url}/crash/half", headers=h).status_code == 404
    after = {p for p in root.rglob("*") if p.is_file()}
    assert after == before
    assert c.head(f"{url}/crash", headers=h).headers["X-Container-Object-Count"] == "0"


def test_recovery_removes_partials_and_orphans(swift: Cloud) -> None:
    from overcast.object import objects

    store = swift.app.state.object_store
    w = store.backend.open_write()
    w.write(b"half")  # a crash mid-write
    orphan = store.backend.open_write()
    orphan.write(b"whole")
    loc = orphan.commit()  # a crash before the row was committed
    partials, orphans = objects.recover(store)
    assert partials >= 1 and orphans >= 1
    assert loc not in set(store.backend.locations())
    assert not list((swift.data_dir / "objects" / "tmp").iterdir())


def test_slo_listing_shows_both_etags(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/slo2", headers=h)
    e1 = c.put(f"{url}/slo2/seg1", headers=h, content=b"x" * 10).headers["Etag"]
    r = c.put(f"{url}/slo2/m", headers=h, params={"multipart-manifest": "put"},
              content=json.dumps([{"path": "slo2/seg1", "etag": e1, "size_bytes": 10}]))
    slo_etag = hashlib.md5(e1.encode()).hexdigest()
    assert r.status_code == 201 and r.headers["Etag"] == f'"{slo_etag}"'
    entry = next(e for e in c.get(f"{url}/slo2", headers=h, params={"format": "json"}).json()
                 if e["name"] == "m")
    assert entry["slo_etag"] == f'"{slo_etag}"' and entry["bytes"] == 10
    head = c.head(f"{url}/slo2/m", headers=h)
    assert head.headers["X-Manifest-Etag"] == entry["hash"] != slo_etag
    # a wrong ETag for the whole SLO is refused
    r = c.put(f"{url}/slo2/m2", headers={**h, "ETag": "0" * 32},
              params={"multipart-manifest": "put"},
              content=json.dumps([{"path": "slo2/seg1"}]))
    assert r.status_code == 422


@pytest.mark.parametrize("mode", ["X-Versions-Location", "X-History-Location"])
def test_versioned_containers(swift: Cloud, user: dict[str, Any], mode: str) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    tag = mode.split("-")[1].lower()
    c.put(f"{url}/arch-{tag}", headers=h)
    assert c.put(f"{url}/docs-{tag}", headers={**h, mode: f"arch-{tag}"}).status_code == 201
    assert c.head(f"{url}/docs-{tag}", headers=h).headers[mode] == f"arch-{tag}"
    for text in (b"v1", b"v2", b"v3"):
        assert c.put(f"{url}/docs-{tag}/f", headers=h, content=text).status_code == 201
    archived = _names(swift, user, f"arch-{tag}")
    assert len(archived) == 2 and all(n.startswith("001f/") for n in archived)
    assert c.get(f"{url}/arch-{tag}/{archived[0]}", headers=h).content == b"v1"
    assert c.delete(f"{url}/docs-{tag}/f", headers=h).status_code == 204
    if mode == "X-Versions-Location":
        # stack: the newest archived copy comes back
        assert c.get(f"{url}/docs-{tag}/f", headers=h).content == b"v2"
        assert len(_names(swift, user, f"arch-{tag}")) == 1
    else:
        # history: the current copy is archived too, and the object is gone
        assert c.get(f"{url}/docs-{tag}/f", headers=h).status_code == 404
        assert len(_names(swift, user, f"arch-{tag}")) == 3
    both = {"X-Versions-Location": "a", "X-History-Location": "b"}
    assert c.post(f"{url}/docs-{tag}", headers={**h, **both}).status_code == 400
    assert c.post(f"{url}/docs-{tag}", headers={**h, f"X-Remove-{mode[2:]}": "x"}
                  ).status_code == 204
    assert mode not in c.head(f"{url}/docs-{tag}", headers=h).headers


def _form(fields: list[tuple[str, str]], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----overcastform"
    out = b""
    for k, v in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                f"{v}\r\n").encode()
    for i, (name, data) in enumerate(files):
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file{i}\"; "
                f"filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_formpost(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.post(url, headers={**h, "X-Account-Meta-Temp-URL-Key": "formkey"})
    c.put(f"{url}/uploads", headers=h)
    path = f"/v1/AUTH_{user['project_id']}/uploads/in/"
    expires = str(int(time.time()) + 600)
    redirect = "https://example.com/done"

    def signed(key: str, exp: str = expires) -> list[tuple[str, str]]:
        body = f"{path}\n{redirect}\n1024\n2\n{exp}"
        sig = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
        return [("redirect", redirect), ("max_file_size", "1024"), ("max_file_count", "2"),
                ("expires", exp), ("signature", sig)]

    body, ctype = _form(signed("formkey"), [("a.txt", b"alpha" * 100), ("b.txt", b"beta")])
    r = c.post(f"{url}/uploads/in/", content=body, headers={"Content-Type": ctype},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == f"{redirect}?status=201&message="
    assert c.get(f"{url}/uploads/in/a.txt", headers=h).content == b"alpha" * 100
    assert c.get(f"{url}/uploads/in/b.txt", headers=h).content == b"beta"
    # a wrong key, an expired form, too many files, a file too big
    body, ctype = _form(signed("nope"), [("c.txt", b"x")])
    r = c.post(f"{url}/uploads/in/", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 401 and r.text == "FormPost: Invalid Signature"
    past = str(int(time.time()) - 10)
    body, ctype = _form(signed("formkey", past), [("c.txt", b"x")])
    r = c.post(f"{url}/uploads/in/", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 401 and r.text == "FormPost: Form Expired"
    body, ctype = _form(signed("formkey"), [("c.txt", b"x"), ("d.txt", b"y"), ("e.txt", b"z")])
    r = c.post(f"{url}/uploads/in/", content=body, headers={"Content-Type": ctype},
               follow_redirects=False)
    assert "status=400" in r.headers["Location"]
    body, ctype = _form(signed("formkey"), [("big.txt", b"x" * 2000)])
    r = c.post(f"{url}/uploads/in/", content=body, headers={"Content-Type": ctype},
               follow_redirects=False)
    assert r.status_code == 400 and "max_file_size exceeded" in r.text
    assert c.get(f"{url}/uploads/in/big.txt", headers=h).status_code == 404
    assert sorted(_names(swift, user, "uploads")) == ["in/a.txt", "in/b.txt", "in/c.txt",
                                                       "in/d.txt"]


def test_extract_archive(swift: Cloud, user: dict[str, Any], tmp_path: Any) -> None:
    import io
    import tarfile

    c, h, url = swift.client, user["headers"], user["url"]

    def tar(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as t:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    # at the account: the first path part names the container (made when missing)
    r = c.put(url, params={"extract-archive": "tar.gz"},
              headers={**h, "Accept": "application/json"},
              content=tar({"site/index.html": b"<p>", "site/css/a.css": b"a{}", "top": b"x"}))
    assert r.status_code == 200, r.text
    assert r.json()["Number Files Created"] == 2 and r.json()["Errors"] == []
    assert _names(swift, user, "site") == ["css/a.css", "index.html"]
    # into a container, below a prefix
    r = c.put(f"{url}/site/v2", params={"extract-archive": "tar"}, headers=h,
              content=tar({"./a.txt": b"A"}, "w"))
    assert "Number Files Created: 1" in r.text
    assert c.get(f"{url}/site/v2/a.txt", headers=h).content == b"A"
    r = c.put(f"{url}/site", params={"extract-archive": "tar"}, headers=h, content=b"junk")
    assert r.status_code == 400
    other = swift.make_project_user("member", prefix="xa")
    r = c.put(url, params={"extract-archive": "tar"}, headers={
        **other["headers"], "Accept": "application/json"}, content=tar({"site/z": b"z"}, "w"))
    assert r.json()["Number Files Created"] == 0 and r.json()["Errors"][0][1] == "403 Forbidden"


HOSTILE = ["", "-1", "x" * 2000, "\x00", "%00", "1e400", "99999999999999999999999",
           "../..", "/", "é", "a\tb"]


def test_hostile_requests_get_4xx_never_5xx(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/hostile", headers=h)
    c.put(f"{url}/hostile/o", headers=h, content=b"data")
    seen = []
    for value in HOSTILE:
        for param in ("format", "prefix", "delimiter", "marker", "end_marker", "limit",
                      "reverse"):
            for target in (url, f"{url}/hostile"):
                seen.append(c.get(target, headers=h, params={param: value}).status_code)
        for param in ("multipart-manifest", "temp_url_sig", "temp_url_expires",
                      "extract-archive"):
            seen.append(c.get(f"{url}/hostile/o", params={param: value}).status_code)
            seen.append(c.put(f"{url}/hostile/x", headers=h, params={param: value},
                              content=b"[]").status_code)
        ascii_value = value.encode("ascii", "replace").decode()
        for header in ("Range", "If-Match", "If-None-Match", "If-Modified-Since",
                       "If-Unmodified-Since"):
            seen.append(c.get(f"{url}/hostile/o", headers={**h, header: ascii_value}
                              ).status_code)
        for header in ("X-Delete-At", "X-Delete-After", "X-Copy-From", "X-Object-Manifest",
                       "Content-Length", "X-Container-Meta-Quota-Bytes", "ETag"):
            seen.append(c.put(f"{url}/hostile/y", headers={**h, header: ascii_value},
                              content=b"z").status_code)
        for header in ("X-Container-Read", "X-Container-Write", "X-Versions-Location",
                       "X-Container-Meta-Quota-Count"):
            seen.append(c.post(f"{url}/hostile", headers={**h, header: ascii_value}
                               ).status_code)
        seen.append(c.request("COPY", f"{url}/hostile/o", headers={
            **h, "Destination": ascii_value}).status_code)
        seen.append(c.get(f"/object/v1/{quote(value or 'x', safe='')}", headers=swift.admin()
                          ).status_code)
        seen.append(c.put(f"{url}/hostile/slo", headers=h,
                          params={"multipart-manifest": "put"},
                          content=json.dumps([{"path": value}])).status_code)
    assert seen and max(seen) < 500, sorted(set(seen))


def test_project_quotas(tmp_path: Any) -> None:
    gen = build_cloud(tmp_path, object_quota_count=2, object_quota_bytes=100,
                      object_expirer_interval=0.0)
    cloud = next(gen)
    try:
        u = cloud.make_project_user("member")
        c, h = cloud.client, u["headers"]
        url = f"/object/v1/AUTH_{u['project_id']}"
        c.put(f"{url}/a", headers=h)
        c.put(f"{url}/b", headers=h)
        assert c.put(f"{url}/a/1", headers=h, content=b"x" * 60).status_code == 201
        # bytes are counted across the project's containers
        r = c.put(f"{url}/b/1", headers=h, content=b"x" * 41)
        assert r.status_code == 413 and r.text == "Upload exceeds quota."
        assert c.put(f"{url}/b/1", headers=h, content=b"x" * 40).status_code == 201
        # the object count too (an overwrite adds none)
        assert c.put(f"{url}/b/2", headers=h, content=b"").status_code == 413
        assert c.put(f"{url}/b/1", headers=h, content=b"y" * 40).status_code == 201
        # another project has its own budget
        v = cloud.make_project_user("member")
        vurl = f"/object/v1/AUTH_{v['project_id']}"
        c.put(f"{vurl}/a", headers=v["headers"])
        assert c.put(f"{vurl}/a/1", headers=v["headers"], content=b"x" * 100
                     ).status_code == 201
    finally:
        gen.close()


def test_the_expirer_reaps_on_its_own(tmp_path: Any) -> None:
    gen = build_cloud(tmp_path, object_expirer_interval=0.2)
    cloud = next(gen)
    try:
        u = cloud.make_project_user("member")
        c, h = cloud.client, u["headers"]
        url = f"/object/v1/AUTH_{u['project_id']}"
        c.put(f"{url}/e", headers=h)
        at = int(time.time()) + 1
        assert c.put(f"{url}/e/o", headers={**h, "X-Delete-At": str(at)}, content=b"x"
                     ).status_code == 201
        deadline = time.time() + 15
        while time.time() < deadline:
            if c.head(f"{url}/e", headers=h).headers["X-Container-Object-Count"] == "0":
                break
            time.sleep(0.2)
        assert c.head(f"{url}/e", headers=h).headers["X-Container-Object-Count"] == "0"
        assert not [p for p in (cloud.data_dir / "objects").rglob("*")
                    if p.is_file() and p.parent.name != "tmp"]
    finally:
        gen.close()


def test_static_web(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/web", headers={**h, "X-Container-Read": ".r:*,.rlistings",
                                 "X-Container-Meta-Web-Index": "index.html"})
    c.put(f"{url}/web/index.html", headers=h, content=b"<h1>home</h1>")
    c.put(f"{url}/web/docs/index.html", headers=h, content=b"<h1>docs</h1>")
    c.put(f"{url}/web/pics/cat.jpg", headers=h, content=b"meow")
    c.put(f"{url}/web/404error.html", headers=h, content=b"<h1>lost</h1>")
    r = c.get(f"{url}/web", follow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == f"{url}/web/"
    assert c.get(f"{url}/web/").content == b"<h1>home</h1>"
    assert c.get(f"{url}/web/docs", follow_redirects=False).status_code == 301
    assert c.get(f"{url}/web/docs/").content == b"<h1>docs</h1>"
    assert c.get(f"{url}/web/pics/cat.jpg").content == b"meow"
    # the owner, with a token, still gets the API (a listing), not the site
    assert "index.html" in c.get(f"{url}/web", headers=h).text
    # listings and their stylesheet; error pages
    c.post(f"{url}/web", headers={**h, "X-Container-Meta-Web-Listings": "true",
                                  "X-Container-Meta-Web-Listings-CSS": "listings.css",
                                  "X-Container-Meta-Web-Error": "error.html"})
    page = c.get(f"{url}/web/pics/").text
    assert "cat.jpg" in page
    assert '<link rel="stylesheet" type="text/css" href="../listings.css" />' in page
    r = c.get(f"{url}/web/nothing-here")
    assert r.status_code == 404 and r.content == b"<h1>lost</h1>"
    # without a public read ACL the site stays closed
    c.post(f"{url}/web", headers={**h, "X-Remove-Container-Read": "x"})
    assert c.get(f"{url}/web/").status_code == 401


def test_symlinks(swift: Cloud, user: dict[str, Any]) -> None:
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/ln", headers=h)
    c.put(f"{url}/ln2", headers=h)
    etag = c.put(f"{url}/ln/target", headers=h, content=b"payload").headers["Etag"]
    r = c.put(f"{url}/ln/link", headers={**h, "X-Symlink-Target": "ln/target"}, content=b"")
    assert r.status_code == 201
    r = c.get(f"{url}/ln/link", headers=h)
    assert r.content == b"payload"
    assert r.headers["Content-Location"] == f"/v1/AUTH_{user['project_id']}/ln/target"
    own = c.get(f"{url}/ln/link", headers=h, params={"symlink": "get"})
    assert own.content == b"" and own.headers["X-Symlink-Target"] == "ln/target"
    assert own.headers["Content-Type"] == "application/symlink"
    entry = next(e for e in c.get(f"{url}/ln", headers=h, params={"format": "json"}).json()
                 if e["name"] == "link")
    assert entry["symlink_path"].endswith("/ln/target")
    # across containers, chained, broken, looping, static
    c.put(f"{url}/ln2/hop", headers={**h, "X-Symlink-Target": "ln/link"}, content=b"")
    assert c.get(f"{url}/ln2/hop", headers=h).content == b"payload"
    c.put(f"{url}/ln2/hop2", headers={**h, "X-Symlink-Target": "ln2/hop"}, content=b"")
    r = c.get(f"{url}/ln2/hop2", headers=h)
    assert r.status_code == 409 and "Too many levels of symbolic links" in r.text
    c.put(f"{url}/ln/broken", headers={**h, "X-Symlink-Target": "ln/nothing"}, content=b"")
    assert c.get(f"{url}/ln/broken", headers=h).status_code == 404
    assert c.put(f"{url}/ln/self", headers={**h, "X-Symlink-Target": "ln/self"},
                 content=b"").status_code == 400
    assert c.put(f"{url}/ln/bad", headers={**h, "X-Symlink-Target": "/ln/target"},
                 content=b"").status_code == 412
    assert c.put(f"{url}/ln/body", headers={**h, "X-Symlink-Target": "ln/target"},
                 content=b"x").status_code == 400
    r = c.put(f"{url}/ln/static", headers={**h, "X-Symlink-Target": "ln/target",
                                           "X-Symlink-Target-Etag": etag}, content=b"")
    assert r.status_code == 201
    c.put(f"{url}/ln/target", headers=h, content=b"changed")
    assert c.get(f"{url}/ln/static", headers=h).status_code == 409
    assert c.get(f"{url}/ln/link", headers=h).content == b"changed"
    # a copy of a link copies what it leads to
    c.request("COPY", f"{url}/ln/link", headers={**h, "Destination": "ln2/copied"})
    r = c.get(f"{url}/ln2/copied", headers=h)
    assert r.content == b"changed" and "Content-Location" not in r.headers


def test_small_get_survives_an_overwrite_between_row_and_bytes(
        swift: Cloud, user: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A small GET reads the row and then the blob it names, in one hop. An
    overwrite that commits in between deletes that blob: the GET read the row
    again (the new one) instead of answering 500 for a missing file."""
    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/race", headers=h)
    c.put(f"{url}/race/o", headers=h, content=b"old")
    backend = swift.app.state.object_store.backend
    real_read = backend.read
    calls = {"n": 0}

    def read_after_overwrite(location: str, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the overwrite lands now, and its blob replaces ours
            monkeypatch.setattr(backend, "read", real_read)
            assert c.put(f"{url}/race/o", headers=h, content=b"new").status_code == 201
            monkeypatch.setattr(backend, "read", read_after_overwrite)
        return real_read(location, *args, **kwargs)

    monkeypatch.setattr(backend, "read", read_after_overwrite)
    r = c.get(f"{url}/race/o", headers=h)
    assert r.status_code == 200 and r.content == b"new"
    assert r.headers["Etag"] == hashlib.md5(b"new").hexdigest()


def test_json_listing_in_one_pass_matches_the_view(swift: Cloud, user: dict[str, Any]) -> None:
    """`containers.list_json` (the JSON listing built straight from the rows) gives
    the very bytes `views.container_listing` gives from entries, for plain, SLO and
    symlink rows, subdirs, prefix, reverse, marker and limit."""
    import orjson
    from sqlalchemy import insert, select

    from overcast.object import containers, views
    from overcast.object import models as m

    c, h, url = swift.client, user["headers"], user["url"]
    c.put(f"{url}/onepass", headers=h)
    account = f"AUTH_{user['project_id']}"
    with swift.app.state.db.transaction() as s:
        cid = s.scalar(select(m.Container.id).where(
            m.Container.name == "onepass", m.Container.account == account))
        s.execute(insert(m.Object), [
            {"container_id": cid, "name": f"o{i:04d}" if i % 7 else f"d{i % 3}/x{i}",
             "size": i, "etag": "9dd4e461268c8034f5c8564e155c67a6",
             "content_type": "application/octet-stream",
             "timestamp": round(1_700_000_000 + i * 0.00123, 5), "meta": {}, "headers": {},
             "manifest_etag": "abc" if i % 11 == 0 else None,
             "symlink_path": "/v1/a/c/o" if i % 13 == 0 else None} for i in range(500)])
    store = swift.app.state.object_store
    shapes: list[dict[str, Any]] = [{}, {"delimiter": "/"}, {"prefix": "o00", "reverse": True},
                                    {"marker": "o0250", "limit": 77}]
    for kw in shapes:
        kw.setdefault("limit", 10_000)
        entries = containers.list_objects(store, account, "onepass", **kw)[1]
        items = containers.list_json(store, account, "onepass", **kw)[1]
        assert entries, kw
        assert orjson.dumps(items) == views.container_listing("onepass", entries, "json"), kw
    got = c.get(f"{url}/onepass", headers=h, params={"format": "json", "limit": "3"}).json()
    assert [o["name"] for o in got] == ["d0/x0", "d0/x105", "d0/x126"]
    assert got[0]["slo_etag"] == '"9dd4e461268c8034f5c8564e155c67a6"'
    assert got[0]["hash"] == "abc" and got[0]["symlink_path"] == "/v1/a/c/o"
    assert "slo_etag" not in got[1] and "symlink_path" not in got[1]
