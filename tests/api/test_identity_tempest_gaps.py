"""Keystone behaviours Tempest's identity tests found missing (issue 16): each test
pins the wire Keystone has, so a regression shows here before a Tempest run."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.conftest import Cloud

V3 = "/identity/v3"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _service(cloud: Cloud) -> str:
    r = cloud.client.post(f"{V3}/services", headers=cloud.admin(),
                          json={"service": {"type": uniq("t"), "name": uniq("s")}})
    assert r.status_code == 201, r.text
    return str(r.json()["service"]["id"])


def test_endpoint_with_legacy_region_creates_the_region(cloud: Cloud) -> None:
    h, region = cloud.admin(), uniq("region")
    assert cloud.client.get(f"{V3}/regions/{region}", headers=h).status_code == 404
    r = cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": _service(cloud), "interface": "public", "region": region,
        "url": "http://example.com/x"}})
    assert r.status_code == 201, r.text
    ep = r.json()["endpoint"]
    assert ep["region_id"] == region and ep["region"] == region
    assert cloud.client.get(f"{V3}/regions/{region}", headers=h).status_code == 200
    # updating with a legacy region creates that one too
    other = uniq("region")
    r = cloud.client.patch(f"{V3}/endpoints/{ep['id']}", headers=h,
                           json={"endpoint": {"region": other}})
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"]["region_id"] == other
    assert cloud.client.get(f"{V3}/regions/{other}", headers=h).status_code == 200


def test_endpoint_with_unknown_region_id_is_refused(cloud: Cloud) -> None:
    r = cloud.client.post(f"{V3}/endpoints", headers=cloud.admin(), json={"endpoint": {
        "service_id": _service(cloud), "interface": "public", "region_id": uniq("nope"),
        "url": "http://example.com/x"}})
    assert r.status_code == 400, r.text


def test_head_and_get_on_system_role_grant(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    role = cloud.role_id("reader")
    url = f"{V3}/system/users/{u['user_id']}/roles/{role}"
    assert cloud.client.head(url, headers=h).status_code == 404
    assert cloud.client.put(url, headers=h).status_code == 204
    assert cloud.client.head(url, headers=h).status_code == 204
    assert cloud.client.get(url, headers=h).status_code == 204
    assert cloud.client.head(url, headers=u["headers"]).status_code == 403


def test_delete_all_project_tags(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    pid = u["project_id"]
    r = cloud.client.put(f"{V3}/projects/{pid}/tags", headers=h, json={"tags": ["a", "b"]})
    assert r.status_code == 200, r.text
    assert cloud.client.delete(f"{V3}/projects/{pid}/tags",
                               headers=u["headers"]).status_code == 403
    assert cloud.client.delete(f"{V3}/projects/{pid}/tags", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/projects/{pid}/tags", headers=h).json()["tags"] == []
    assert cloud.client.delete(f"{V3}/projects/{uniq('x')}/tags",
                               headers=h).status_code == 404


def test_effective_assignments_leave_out_domain_specific_roles(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    domain = cloud.client.get(f"{V3}/projects/{u['project_id']}",
                              headers=h).json()["project"]["domain_id"]
    r = cloud.client.post(f"{V3}/roles", headers=h,
                          json={"role": {"name": uniq("dsr"), "domain_id": domain}})
    assert r.status_code == 201, r.text
    dsr = r.json()["role"]["id"]
    reader = cloud.role_id("reader")
    assert cloud.client.put(f"{V3}/roles/{dsr}/implies/{reader}",
                            headers=h).status_code == 201
    assert cloud.client.put(f"{V3}/projects/{u['project_id']}/users/{u['user_id']}/roles/"
                            f"{dsr}", headers=h).status_code == 204
    direct = cloud.client.get(f"{V3}/role_assignments?user.id={u['user_id']}",
                              headers=h).json()["role_assignments"]
    assert dsr in {a["role"]["id"] for a in direct}
    eff = cloud.client.get(f"{V3}/role_assignments?effective&user.id={u['user_id']}",
                           headers=h).json()["role_assignments"]
    ids = {a["role"]["id"] for a in eff}
    assert dsr not in ids and reader in ids
    # nor in the user's tokens
    token = cloud.token(u["username"], u["password"], project_id=u["project_id"])
    r = cloud.client.get(f"{V3}/auth/tokens",
                         headers={**h, "X-Subject-Token": token})
    assert dsr not in {x["id"] for x in r.json()["token"]["roles"]}


def test_application_credential_expiry_is_keystones_isoformat(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    expires = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    r = cloud.client.post(
        f"{V3}/users/{u['user_id']}/application_credentials", headers=u["headers"],
        json={"application_credential": {"name": uniq("ac"),
                                          "expires_at": expires.isoformat()}})
    assert r.status_code == 201, r.text
    assert r.json()["application_credential"]["expires_at"] == expires.isoformat()
    ac = r.json()["application_credential"]["id"]
    r = cloud.client.get(f"{V3}/users/{u['user_id']}/application_credentials/{ac}",
                         headers=u["headers"])
    assert r.json()["application_credential"]["expires_at"] == expires.isoformat()


def test_is_domain_project_is_a_domain(cloud: Cloud) -> None:
    h, name = cloud.admin(), uniq("isdom")
    r = cloud.client.post(f"{V3}/projects", headers=h,
                          json={"project": {"name": name, "is_domain": True,
                                            "domain_id": None}})
    assert r.status_code == 201, r.text
    p = r.json()["project"]
    assert p["is_domain"] is True and p["domain_id"] is None and p["parent_id"] is None
    listed = cloud.client.get(f"{V3}/projects?is_domain=true", headers=h).json()["projects"]
    assert p["id"] in {x["id"] for x in listed}
    assert all(x["is_domain"] for x in listed)
    plain = cloud.client.get(f"{V3}/projects", headers=h).json()["projects"]
    assert p["id"] not in {x["id"] for x in plain}
    domains = cloud.client.get(f"{V3}/domains", headers=h).json()["domains"]
    assert p["id"] in {d["id"] for d in domains}
    assert cloud.client.get(f"{V3}/projects/{p['id']}",
                            headers=h).json()["project"]["is_domain"] is True
    # a project can live in it
    r = cloud.client.post(f"{V3}/projects", headers=h,
                          json={"project": {"name": uniq("in"), "domain_id": p["id"]}})
    assert r.status_code == 201, r.text
    assert cloud.client.delete(f"{V3}/projects/{r.json()['project']['id']}",
                               headers=h).status_code == 204
    # deleted as Keystone deletes a domain: once disabled
    assert cloud.client.delete(f"{V3}/projects/{p['id']}", headers=h).status_code == 403
    r = cloud.client.patch(f"{V3}/projects/{p['id']}", headers=h,
                           json={"project": {"enabled": False}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    assert cloud.client.delete(f"{V3}/projects/{p['id']}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/domains/{p['id']}", headers=h).status_code == 404


def test_is_domain_project_with_a_parent_is_refused(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/projects", headers=cloud.admin(), json={"project": {
        "name": uniq("bad"), "is_domain": True, "parent_id": u["project_id"]}})
    assert r.status_code == 400, r.text


def test_policies_crud(cloud: Cloud) -> None:
    h = cloud.admin()
    r = cloud.client.post(f"{V3}/policies", headers=h,
                          json={"policy": {"type": "application/json", "blob": '{"a": 1}',
                                           "note": "kept"}})
    assert r.status_code == 201, r.text
    p = r.json()["policy"]
    assert p["type"] == "application/json" and p["blob"] == '{"a": 1}' and p["note"] == "kept"
    assert p["links"]["self"].endswith(f"/v3/policies/{p['id']}")
    listed = cloud.client.get(f"{V3}/policies", headers=h).json()["policies"]
    assert p["id"] in {x["id"] for x in listed}
    r = cloud.client.patch(f"{V3}/policies/{p['id']}", headers=h,
                           json={"policy": {"type": "text/plain"}})
    assert r.status_code == 200 and r.json()["policy"]["type"] == "text/plain"
    shown = cloud.client.get(f"{V3}/policies/{p['id']}", headers=h).json()["policy"]
    assert shown["type"] == "text/plain" and shown["blob"] == '{"a": 1}'
    u = cloud.make_project_user()
    assert cloud.client.get(f"{V3}/policies", headers=u["headers"]).status_code == 403
    assert cloud.client.post(f"{V3}/policies", headers=h,
                             json={"policy": {"type": "x"}}).status_code == 400
    assert cloud.client.delete(f"{V3}/policies/{p['id']}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/policies/{p['id']}", headers=h).status_code == 404


def test_endpoint_groups_crud(cloud: Cloud) -> None:
    h, base = cloud.admin(), f"{V3}/OS-EP-FILTER/endpoint_groups"
    sid = _service(cloud)
    r = cloud.client.post(base, headers=h, json={"endpoint_group": {
        "name": "eg", "description": "d", "filters": {"service_id": sid}}})
    assert r.status_code == 201, r.text
    g = r.json()["endpoint_group"]
    assert g["filters"] == {"service_id": sid} and g["name"] == "eg"
    assert g["links"]["self"].endswith(f"/v3/OS-EP-FILTER/endpoint_groups/{g['id']}")
    assert g in cloud.client.get(base, headers=h).json()["endpoint_groups"]
    assert cloud.client.head(f"{base}/{g['id']}", headers=h).status_code == 200
    r = cloud.client.patch(f"{base}/{g['id']}", headers=h, json={"endpoint_group": {
        "name": "eg2", "filters": {"interface": "public"}}})
    assert r.status_code == 200, r.text
    assert r.json()["endpoint_group"]["filters"] == {"interface": "public"}
    bad = cloud.client.post(base, headers=h, json={"endpoint_group": {
        "name": "x", "filters": {"colour": "red"}}})
    assert bad.status_code == 400, bad.text
    assert cloud.client.delete(f"{base}/{g['id']}", headers=h).status_code == 204
    assert cloud.client.head(f"{base}/{g['id']}", headers=h).status_code == 404


def test_oauth1_consumers_crud(cloud: Cloud) -> None:
    h, base = cloud.admin(), f"{V3}/OS-OAUTH1/consumers"
    r = cloud.client.post(base, headers=h, json={"consumer": {"description": "d"}})
    assert r.status_code == 201, r.text
    c = r.json()["consumer"]
    assert c["description"] == "d" and len(c["secret"]) >= 32
    shown = cloud.client.get(f"{base}/{c['id']}", headers=h).json()["consumer"]
    assert "secret" not in shown and shown["description"] == "d"
    assert c["id"] in {x["id"] for x in cloud.client.get(base, headers=h).json()["consumers"]}
    r = cloud.client.patch(f"{base}/{c['id']}", headers=h,
                           json={"consumer": {"description": "e"}})
    assert r.status_code == 200 and r.json()["consumer"]["description"] == "e"
    u = cloud.make_project_user()
    assert cloud.client.get(base, headers=u["headers"]).status_code == 403
    assert cloud.client.delete(f"{base}/{c['id']}", headers=h).status_code == 204
    assert cloud.client.get(f"{base}/{c['id']}", headers=h).status_code == 404


def _catalog_endpoint_ids(cloud: Cloud, headers: dict[str, str]) -> set[str]:
    cat = cloud.client.get(f"{V3}/auth/catalog", headers=headers).json()["catalog"]
    return {e["id"] for svc in cat for e in svc["endpoints"]}


def test_endpoint_filter_narrows_a_projects_catalog(cloud: Cloud) -> None:
    h, epf = cloud.admin(), f"{V3}/OS-EP-FILTER"
    u = cloud.make_project_user()
    pid = u["project_id"]
    every = _catalog_endpoint_ids(cloud, u["headers"])
    assert len(every) > 2
    sid = _service(cloud)
    ep = cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://example.com/a"}}
    ).json()["endpoint"]["id"]
    url = f"{epf}/projects/{pid}/endpoints/{ep}"
    assert cloud.client.head(url, headers=h).status_code == 404
    assert cloud.client.put(url, headers=h).status_code == 204
    assert cloud.client.head(url, headers=h).status_code == 204
    assert cloud.client.put(url, headers=u["headers"]).status_code == 403
    assert _catalog_endpoint_ids(cloud, u["headers"]) == {ep}
    listed = cloud.client.get(f"{epf}/projects/{pid}/endpoints", headers=h).json()
    assert [x["id"] for x in listed["endpoints"]] == [ep]
    assert [x["id"] for x in cloud.client.get(f"{epf}/endpoints/{ep}/projects",
                                              headers=h).json()["projects"]] == [pid]
    # an endpoint group adds the endpoints its filters select
    some = sorted(every)[0]
    svc_of_some = cloud.client.get(f"{V3}/endpoints/{some}",
                                   headers=h).json()["endpoint"]["service_id"]
    g = cloud.client.post(f"{epf}/endpoint_groups", headers=h, json={"endpoint_group": {
        "name": "g", "filters": {"service_id": svc_of_some}}}).json()["endpoint_group"]
    gurl = f"{epf}/endpoint_groups/{g['id']}/projects/{pid}"
    assert cloud.client.put(gurl, headers=h).status_code == 204
    assert cloud.client.head(gurl, headers=h).status_code == 200
    assert cloud.client.get(gurl, headers=h).json()["project"]["id"] == pid
    assert g["id"] in {x["id"] for x in cloud.client.get(
        f"{epf}/projects/{pid}/endpoint_groups", headers=h).json()["endpoint_groups"]}
    assert pid in {x["id"] for x in cloud.client.get(
        f"{epf}/endpoint_groups/{g['id']}/projects", headers=h).json()["projects"]}
    in_group = {x["id"] for x in cloud.client.get(
        f"{epf}/endpoint_groups/{g['id']}/endpoints", headers=h).json()["endpoints"]}
    assert some in in_group
    assert _catalog_endpoint_ids(cloud, u["headers"]) == {ep} | in_group
    # removing the associations gives the whole catalog back
    assert cloud.client.delete(gurl, headers=h).status_code == 204
    assert cloud.client.delete(url, headers=h).status_code == 204
    assert cloud.client.delete(url, headers=h).status_code == 404
    assert _catalog_endpoint_ids(cloud, u["headers"]) == every | {ep}
