"""Glance's metadata definitions catalog: namespaces, objects, properties, tags,
resource types and their associations, the schema documents, and who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

M = "/image/v2/metadefs"


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("metadefs"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


def _ns(cloud: Cloud, name: str, **body: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{M}/namespaces", headers=cloud.admin(),
                          json={"namespace": name, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_resource_types_are_glances_five(glance: Cloud) -> None:
    hd = glance.make_project_user()["headers"]
    r = glance.client.get(f"{M}/resource_types", headers=hd)
    assert r.status_code == 200
    names = [t["name"] for t in r.json()["resource_types"]]
    assert set(names) == {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                          "OS::Nova::Aggregate", "OS::Nova::Server"}


def test_namespace_lifecycle_protection_and_visibility(glance: Cloud) -> None:
    admin = glance.admin()
    ns = _ns(glance, "OS::Test::One", visibility="public", protected=True,
             display_name="One", description="d",
             resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}])
    assert ns["visibility"] == "public" and ns["protected"] is True
    assert ns["self"] == f"{M.removeprefix('/image')}/namespaces/OS::Test::One"
    assert ns["resource_type_associations"][0]["prefix"] == "hw_"
    r = glance.client.post(f"{M}/namespaces", headers=admin, json={"namespace": "OS::Test::One"})
    assert r.status_code == 409
    hd = glance.make_project_user()["headers"]
    listed = glance.client.get(f"{M}/namespaces", headers=hd).json()
    assert "OS::Test::One" in [n["namespace"] for n in listed["namespaces"]]
    assert listed["schema"] == "/v2/schemas/metadefs/namespaces"
    by_type = glance.client.get(f"{M}/namespaces", headers=hd,
                                params={"resource_types": "OS::Nova::Flavor"}).json()
    assert "OS::Test::One" not in [n["namespace"] for n in by_type["namespaces"]]
    # only admins change the catalog
    assert glance.client.post(f"{M}/namespaces", headers=hd,
                              json={"namespace": "mine"}).status_code == 403
    assert glance.client.delete(f"{M}/namespaces/OS::Test::One", headers=hd).status_code == 403
    # protected: not deleted until unprotected
    assert glance.client.delete(f"{M}/namespaces/OS::Test::One",
                                headers=admin).status_code == 403
    r = glance.client.put(f"{M}/namespaces/OS::Test::One", headers=admin, json={
        "namespace": "OS::Test::One", "visibility": "private", "protected": False,
        "description": "d2", "self": "ignored", "schema": "ignored"})
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "private" and r.json()["protected"] is False
    # private: the project of another user does not see it
    assert glance.client.get(f"{M}/namespaces/OS::Test::One", headers=hd).status_code == 404
    assert glance.client.delete(f"{M}/namespaces/OS::Test::One",
                                headers=admin).status_code == 204
    assert glance.client.get(f"{M}/namespaces/OS::Test::One",
                             headers=admin).status_code == 404


def test_objects_properties_tags_and_associations(glance: Cloud) -> None:
    admin = glance.admin()
    _ns(glance, "OS::Test::Two", visibility="public")
    base = f"{M}/namespaces/OS::Test::Two"
    r = glance.client.post(f"{base}/objects", headers=admin, json={
        "name": "CPU", "required": ["cores"],
        "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}})
    assert r.status_code == 201, r.text
    assert r.json()["self"].endswith("/objects/CPU") and r.json()["required"] == ["cores"]
    r = glance.client.put(f"{base}/objects/CPU", headers=admin, json={"name": "Processor"})
    assert r.status_code == 200 and r.json()["name"] == "Processor"
    assert [o["name"] for o in glance.client.get(f"{base}/objects", headers=admin)
            .json()["objects"]] == ["Processor"]
    assert glance.client.get(f"{base}/objects/CPU", headers=admin).status_code == 404
    r = glance.client.post(f"{base}/properties", headers=admin, json={
        "name": "hypervisor_type", "title": "Hypervisor", "type": "string",
        "enum": ["kvm", "qemu"]})
    assert r.status_code == 201 and r.json()["title"] == "Hypervisor"
    r = glance.client.post(f"{base}/properties", headers=admin, json={
        "name": "bad", "title": "Bad", "type": "colour"})
    assert r.status_code == 400
    props = glance.client.get(f"{base}/properties", headers=admin).json()["properties"]
    assert props == {"hypervisor_type": {"title": "Hypervisor", "type": "string",
                                         "enum": ["kvm", "qemu"]}}
    r = glance.client.put(f"{base}/properties/hypervisor_type", headers=admin, json={
        "name": "hypervisor_type", "title": "HV", "type": "string"})
    assert r.status_code == 200 and r.json()["title"] == "HV" and "enum" not in r.json()
    assert glance.client.delete(f"{base}/properties/hypervisor_type",
                                headers=admin).status_code == 204
    assert glance.client.get(f"{base}/properties", headers=admin).json()["properties"] == {}
    # tags: a POST of the list replaces them; one tag at a time too
    r = glance.client.post(f"{base}/tags", headers=admin,
                           json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert r.status_code == 201 and [t["name"] for t in r.json()["tags"]] == ["a", "b"]
    r = glance.client.post(f"{base}/tags", headers=admin, json={"tags": [{"name": "c"}]})
    assert [t["name"] for t in glance.client.get(f"{base}/tags", headers=admin)
            .json()["tags"]] == ["c"]
    assert glance.client.post(f"{base}/tags/d", headers=admin).status_code == 201
    assert glance.client.post(f"{base}/tags/d", headers=admin).status_code == 409
    r = glance.client.put(f"{base}/tags/d", headers=admin, json={"name": "e"})
    assert r.status_code == 200 and r.json()["name"] == "e"
    assert glance.client.get(f"{base}/tags/e", headers=admin).json()["name"] == "e"
    assert glance.client.delete(f"{base}/tags", headers=admin).status_code == 204
    assert glance.client.get(f"{base}/tags", headers=admin).json()["tags"] == []
    # resource type associations
    r = glance.client.post(f"{base}/resource_types", headers=admin,
                           json={"name": "OS::Nova::Flavor", "prefix": "hw:"})
    assert r.status_code == 201 and r.json()["name"] == "OS::Nova::Flavor"
    assert glance.client.post(f"{base}/resource_types", headers=admin,
                              json={"name": "OS::Nova::Flavor"}).status_code == 409
    assert glance.client.post(f"{base}/resource_types", headers=admin,
                              json={"name": "OS::Nowhere"}).status_code == 404
    assoc = glance.client.get(f"{base}/resource_types", headers=admin).json()
    assert [a["name"] for a in assoc["resource_type_associations"]] == ["OS::Nova::Flavor"]
    assert glance.client.delete(f"{base}/resource_types/OS::Nova::Flavor",
                                headers=admin).status_code == 204
    assert glance.client.get(f"{base}/resource_types", headers=admin).json()[
        "resource_type_associations"] == []
    # the whole namespace shows its contents; deleting it takes them along
    glance.client.post(f"{base}/objects", headers=admin, json={"name": "Mem"})
    shown = glance.client.get(base, headers=admin).json()
    assert [o["name"] for o in shown["objects"]] == ["Mem", "Processor"]
    assert glance.client.delete(base, headers=admin).status_code == 204
    _ns(glance, "OS::Test::Two")
    assert glance.client.get(f"{base}/objects", headers=admin).json()["objects"] == []
    # a project may read a public namespace's items but not add to them
    hd = glance.make_project_user()["headers"]
    assert glance.client.post(f"{base}/objects", headers=hd,
                              json={"name": "X"}).status_code in (403, 404)


@pytest.mark.parametrize(("doc", "name"), [
    ("namespace", "namespace"), ("namespaces", "namespaces"),
    ("resource_type", "resource_type_association"),
    ("resource_types", "resource_type_associations"), ("object", "object"),
    ("objects", "objects"), ("property", "property"), ("properties", "properties"),
    ("tag", "tag"), ("tags", "tags")])
def test_schema_documents(glance: Cloud, doc: str, name: str) -> None:
    hd = glance.make_project_user()["headers"]
    r = glance.client.get(f"/image/v2/schemas/metadefs/{doc}", headers=hd)
    assert r.status_code == 200 and r.json()["name"] == name
    assert "properties" in r.json()


def test_unknown_schema_and_no_token(glance: Cloud) -> None:
    hd = glance.make_project_user()["headers"]
    assert glance.client.get("/image/v2/schemas/metadefs/colour",
                             headers=hd).status_code == 404
    assert glance.client.get(f"{M}/namespaces").status_code == 401
