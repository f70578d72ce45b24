"""Tenant isolation, as a table: project B's member never sees nor touches project A's.

Each row is one verb on one of A's objects (list, show, update, delete, actions) or
one body field of B's that names an object or the project of A; B must get 403 or
404 (or the 400/409 the real service gives for a reference it cannot use) and A's
object must come out unchanged. Then the ways a project reached past its own that
were open: creating ports, subnets and floating IPs owned by another project;
using another project's port on a shared network (boot on it, put it on a router,
point a floating IP at it); taking the external network's gateway address with a
router interface or a hand-made `network:router_gateway` port; setting admin-only
port fields.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Cloud
from tests.images import IMAGE, add_image

N, C, I = "/network/v2.0", "/compute/v2.1", "/image/v2"  # noqa: E741


def _ok(r: Any, status: int = 0) -> dict[str, Any]:
    assert r.status_code < 300 if not status else r.status_code == status, r.text
    return dict(r.json()) if r.content else {}


@pytest.fixture(scope="module")
def world(cloud: Cloud) -> dict[str, Any]:
    """A's objects of every kind, B's member, and a network A owns and shares."""
    c, adm = cloud.client, cloud.admin()
    add_image(c, adm)
    a, b = cloud.make_project_user("member", "iso-a"), cloud.make_project_user("member",
                                                                               "iso-b")
    # compute 2.37 for `"networks": "none"`; other services ignore a compute version
    nova = {"OpenStack-API-Version": "compute 2.37"}
    ha, hb = {**a["headers"], **nova}, {**b["headers"], **nova}
    pub = _ok(c.post(f"{N}/networks", headers=adm, json={"network": {
        "name": "iso-public", "router:external": True}}))["network"]
    pub_sub = _ok(c.post(f"{N}/subnets", headers=adm, json={"subnet": {
        "network_id": pub["id"], "cidr": "172.30.0.0/24", "ip_version": 4}}))["subnet"]
    net = _ok(c.post(f"{N}/networks", headers=ha, json={"network": {"name": "a"}}))["network"]
    sub = _ok(c.post(f"{N}/subnets", headers=ha, json={"subnet": {
        "network_id": net["id"], "cidr": "10.41.0.0/24", "ip_version": 4}}))["subnet"]
    port = _ok(c.post(f"{N}/ports", headers=ha, json={"port": {"network_id": net["id"]}})
               )["port"]
    router = _ok(c.post(f"{N}/routers", headers=ha, json={"router": {"name": "a"}}))["router"]
    sg = _ok(c.post(f"{N}/security-groups", headers=ha,
                    json={"security_group": {"name": "a"}}))["security_group"]
    rule = _ok(c.post(f"{N}/security-group-rules", headers=ha, json={"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp"}})
               )["security_group_rule"]
    fip = _ok(c.post(f"{N}/floatingips", headers=ha, json={"floatingip": {
        "floating_network_id": pub["id"]}}))["floatingip"]
    server = _ok(c.post(f"{C}/servers", headers=ha, json={"server": {
        "name": "a", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}))["server"]
    kp = _ok(c.post(f"{C}/os-keypairs", headers=ha, json={"keypair": {"name": "a-key"}})
             )["keypair"]
    group = _ok(c.post(f"{C}/os-server-groups", headers=ha, json={"server_group": {
        "name": "a", "policies": ["affinity"]}}))["server_group"]
    image = _ok(c.post(f"{I}/images", headers=ha, json={
        "name": "a", "disk_format": "raw", "container_format": "bare"}))
    # A network that A owns and shares, with a port of B's on it.
    shared = _ok(c.post(f"{N}/networks", headers=adm, json={"network": {
        "name": "a-shared", "shared": True, "project_id": a["project_id"]}}))["network"]
    shared_sub = _ok(c.post(f"{N}/subnets", headers=adm, json={"subnet": {
        "network_id": shared["id"], "cidr": "10.42.0.0/24", "ip_version": 4,
        "project_id": a["project_id"]}}))["subnet"]
    b_port = _ok(c.post(f"{N}/ports", headers=hb, json={"port": {
        "network_id": shared["id"]}}))["port"]
    b_net = _ok(c.post(f"{N}/networks", headers=hb, json={"network": {"name": "b"}})
                )["network"]
    b_router = _ok(c.post(f"{N}/routers", headers=hb, json={"router": {"name": "b"}})
                   )["router"]
    ec2 = _ok(c.post(f"/identity/v3/users/{a['user_id']}/credentials/OS-EC2", headers=ha,
                     json={"tenant_id": a["project_id"]}))["credential"]
    cred = _ok(c.post("/identity/v3/credentials", headers=ha, json={"credential": {
        "type": "totp", "blob": "A-SEED", "user_id": a["user_id"]}}))["credential"]
    return {"cloud": cloud, "a": a, "b": b, "ha": ha, "hb": hb, "pub": pub,
            "pub_sub": pub_sub, "net": net, "sub": sub, "port": port, "router": router,
            "sg": sg, "rule": rule, "fip": fip, "server": server, "kp": kp,
            "group": group, "image": image, "shared": shared, "shared_sub": shared_sub,
            "b_port": b_port, "b_net": b_net, "b_router": b_router, "ec2": ec2,
            "cred": cred}


# (what, method, path, body): B's member acting on A's objects.
VERBS: list[tuple[str, str, str, Any]] = [
    ("show network", "GET", N + "/networks/{net[id]}", None),
    ("update network", "PUT", N + "/networks/{net[id]}", {"network": {"name": "x"}}),
    ("delete network", "DELETE", N + "/networks/{net[id]}", None),
    ("tag network", "PUT", N + "/networks/{net[id]}/tags", {"tags": ["x"]}),
    ("show subnet", "GET", N + "/subnets/{sub[id]}", None),
    ("update subnet", "PUT", N + "/subnets/{sub[id]}", {"subnet": {"name": "x"}}),
    ("delete subnet", "DELETE", N + "/subnets/{sub[id]}", None),
    ("show port", "GET", N + "/ports/{port[id]}", None),
    ("update port", "PUT", N + "/ports/{port[id]}", {"port": {"name": "x"}}),
    ("delete port", "DELETE", N + "/ports/{port[id]}", None),
    ("show router", "GET", N + "/routers/{router[id]}", None),
    ("update router", "PUT", N + "/routers/{router[id]}", {"router": {"name": "x"}}),
    ("delete router", "DELETE", N + "/routers/{router[id]}", None),
    ("router interface", "PUT", N + "/routers/{router[id]}/add_router_interface",
     {"subnet_id": "{sub[id]}"}),
    ("show group", "GET", N + "/security-groups/{sg[id]}", None),
    ("update group", "PUT", N + "/security-groups/{sg[id]}",
     {"security_group": {"name": "x"}}),
    ("delete group", "DELETE", N + "/security-groups/{sg[id]}", None),
    ("show rule", "GET", N + "/security-group-rules/{rule[id]}", None),
    ("delete rule", "DELETE", N + "/security-group-rules/{rule[id]}", None),
    ("show floating ip", "GET", N + "/floatingips/{fip[id]}", None),
    ("update floating ip", "PUT", N + "/floatingips/{fip[id]}",
     {"floatingip": {"port_id": None}}),
    ("delete floating ip", "DELETE", N + "/floatingips/{fip[id]}", None),
    ("show server", "GET", C + "/servers/{server[id]}", None),
    ("update server", "PUT", C + "/servers/{server[id]}", {"server": {"name": "x"}}),
    ("delete server", "DELETE", C + "/servers/{server[id]}", None),
    ("stop server", "POST", C + "/servers/{server[id]}/action", {"os-stop": None}),
    ("reboot server", "POST", C + "/servers/{server[id]}/action",
     {"reboot": {"type": "HARD"}}),
    ("server metadata", "GET", C + "/servers/{server[id]}/metadata", None),
    ("set server metadata", "POST", C + "/servers/{server[id]}/metadata",
     {"metadata": {"k": "v"}}),
    ("server actions", "GET", C + "/servers/{server[id]}/os-instance-actions", None),
    ("server interfaces", "GET", C + "/servers/{server[id]}/os-interface", None),
    ("show keypair", "GET", C + "/os-keypairs/a-key", None),
    ("delete keypair", "DELETE", C + "/os-keypairs/a-key", None),
    ("show server group", "GET", C + "/os-server-groups/{group[id]}", None),
    ("delete server group", "DELETE", C + "/os-server-groups/{group[id]}", None),
    ("show quota of A", "GET", C + "/os-quota-sets/{a[project_id]}", None),
    ("show image", "GET", I + "/images/{image[id]}", None),
    ("update image", "PATCH", I + "/images/{image[id]}",
     [{"op": "replace", "path": "/name", "value": "x"}]),
    ("delete image", "DELETE", I + "/images/{image[id]}", None),
    ("share image", "POST", I + "/images/{image[id]}/members",
     {"member": "{b[project_id]}"}),
    ("show project A", "GET", "/identity/v3/projects/{a[project_id]}", None),
    ("update user A", "PATCH", "/identity/v3/users/{a[user_id]}",
     {"user": {"description": "x"}}),
    ("A's role assignments", "GET",
     "/identity/v3/role_assignments?scope.project.id={a[project_id]}", None),
    ("show A's credential", "GET", "/identity/v3/credentials/{cred[id]}", None),
    ("update A's credential", "PATCH", "/identity/v3/credentials/{cred[id]}",
     {"credential": {"blob": "x"}}),
    ("take A's credential", "PATCH", "/identity/v3/credentials/{cred[id]}",
     {"credential": {"user_id": "{b[user_id]}"}}),
    ("delete A's credential", "DELETE", "/identity/v3/credentials/{cred[id]}", None),
    ("list A's EC2 credentials", "GET",
     "/identity/v3/users/{a[user_id]}/credentials/OS-EC2", None),
    ("show A's EC2 credential", "GET",
     "/identity/v3/users/{a[user_id]}/credentials/OS-EC2/{ec2[access]}", None),
    ("delete A's EC2 credential", "DELETE",
     "/identity/v3/users/{a[user_id]}/credentials/OS-EC2/{ec2[access]}", None),
    ("A's EC2 credential by B's URL", "GET",
     "/identity/v3/users/{b[user_id]}/credentials/OS-EC2/{ec2[access]}", None),
    ("placement providers", "GET", "/placement/resource_providers", None),
    ("placement usages of A", "GET", "/placement/usages?project_id={a[project_id]}",
     None),
]

# (what, method, path, body, refusals): B's bodies naming A's objects or project.
REFERENCES: list[tuple[str, str, str, Any, tuple[int, ...]]] = [
    ("port on A's network", "POST", N + "/ports", {"port": {"network_id": "{net[id]}"}},
     (403, 404)),
    ("subnet on A's network", "POST", N + "/subnets", {"subnet": {
        "network_id": "{net[id]}", "cidr": "10.99.0.0/24", "ip_version": 4}}, (403, 404)),
    ("port with A's group", "POST", N + "/ports", {"port": {
        "network_id": "{b_net[id]}", "security_groups": ["{sg[id]}"]}}, (400, 403, 404)),
    ("rule in A's group", "POST", N + "/security-group-rules", {"security_group_rule": {
        "security_group_id": "{sg[id]}", "direction": "ingress"}}, (403, 404)),
    ("B's router on A's subnet", "PUT", N + "/routers/{b_router[id]}/add_router_interface",
     {"subnet_id": "{sub[id]}"}, (403, 404)),
    ("B's router on A's port", "PUT", N + "/routers/{b_router[id]}/add_router_interface",
     {"port_id": "{port[id]}"}, (403, 404)),
    ("B's floating ip on A's port", "POST", N + "/floatingips", {"floatingip": {
        "floating_network_id": "{pub[id]}", "port_id": "{port[id]}"}}, (403, 404)),
    ("server on A's network", "POST", C + "/servers", {"server": {
        "name": "x", "flavorRef": "1", "imageRef": IMAGE,
        "networks": [{"uuid": "{net[id]}"}]}}, (400, 403, 404)),
    ("server on A's port", "POST", C + "/servers", {"server": {
        "name": "x", "flavorRef": "1", "imageRef": IMAGE,
        "networks": [{"port": "{port[id]}"}]}}, (400, 403, 404, 409)),
    ("server with A's key", "POST", C + "/servers", {"server": {
        "name": "x", "flavorRef": "1", "imageRef": IMAGE, "networks": "none",
        "key_name": "a-key"}}, (400, 404)),
    ("server from A's image", "POST", C + "/servers", {"server": {
        "name": "x", "flavorRef": "1", "imageRef": "{image[id]}", "networks": "none"}},
     (400, 404)),
    ("server in A's group", "POST", C + "/servers", {"server": {
        "name": "x", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"},
        "os:scheduler_hints": {"group": "{group[id]}"}}, (400, 403, 404)),
    ("EC2 credential on A's project", "POST",
     "/identity/v3/users/{b[user_id]}/credentials/OS-EC2",
     {"tenant_id": "{a[project_id]}"}, (403,)),
    ("EC2 credential for A", "POST", "/identity/v3/users/{a[user_id]}/credentials/OS-EC2",
     {"tenant_id": "{a[project_id]}"}, (403,)),
    ("ec2 credential on A's project", "POST", "/identity/v3/credentials", {"credential": {
        "type": "ec2", "user_id": "{b[user_id]}", "project_id": "{a[project_id]}",
        "blob": '{{"access": "b-into-a", "secret": "s"}}'}}, (403,)),
    ("credential owned by A", "POST", "/identity/v3/credentials", {"credential": {
        "type": "totp", "user_id": "{a[user_id]}", "blob": "x"}}, (403,)),
    ("network owned by A", "POST", N + "/networks", {"network": {
        "name": "x", "project_id": "{a[project_id]}"}}, (403,)),
    ("router owned by A", "POST", N + "/routers", {"router": {
        "name": "x", "tenant_id": "{a[project_id]}"}}, (403,)),
    ("group owned by A", "POST", N + "/security-groups", {"security_group": {
        "name": "x", "project_id": "{a[project_id]}"}}, (403,)),
    ("port owned by A", "POST", N + "/ports", {"port": {
        "network_id": "{b_net[id]}", "project_id": "{a[project_id]}"}}, (403,)),
    ("subnet owned by A", "POST", N + "/subnets", {"subnet": {
        "network_id": "{b_net[id]}", "cidr": "10.98.0.0/24", "ip_version": 4,
        "tenant_id": "{a[project_id]}"}}, (403,)),
    ("floating ip owned by A", "POST", N + "/floatingips", {"floatingip": {
        "floating_network_id": "{pub[id]}", "project_id": "{a[project_id]}"}}, (403,)),
]


def _fill(template: Any, w: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return template.format(**w)
    if isinstance(template, dict):
        return {k: _fill(v, w) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, w) for v in template]
    return template


@pytest.mark.parametrize("what,method,path,body", VERBS, ids=[v[0] for v in VERBS])
def test_b_cannot_touch_a(world: dict[str, Any], what: str, method: str, path: str,
                          body: Any) -> None:
    c = world["cloud"].client
    headers = dict(world["hb"])
    if method == "PATCH" and path.startswith(I):
        headers["Content-Type"] = "application/openstack-images-v2.1-json-patch"
    r = c.request(method, _fill(path, world), headers=headers, json=_fill(body, world))
    if method == "GET" and r.status_code == 200:
        # A listing may answer, but must hold none of A's objects.
        text = r.text
        for key in ("net", "sub", "port", "router", "sg", "fip", "server", "image"):
            assert world[key]["id"] not in text, f"{what}: B sees A's {key}"
        assert world["a"]["project_id"] not in text or "usages" in text, text
        if "usages" in text:
            assert all(v == 0 for v in r.json()["usages"].values())
        return
    assert r.status_code in (403, 404), f"{what}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("what,method,path,body,refusals", REFERENCES,
                         ids=[v[0] for v in REFERENCES])
def test_b_cannot_reference_a(world: dict[str, Any], what: str, method: str, path: str,
                              body: Any, refusals: tuple[int, ...]) -> None:
    c = world["cloud"].client
    r = c.request(method, _fill(path, world), headers=world["hb"], json=_fill(body, world))
    assert r.status_code in refusals, f"{what}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("listing", [N + "/networks", N + "/subnets", N + "/ports",
                                     N + "/routers", N + "/security-groups",
                                     N + "/security-group-rules", N + "/floatingips",
                                     C + "/servers/detail", C + "/os-keypairs",
                                     C + "/os-server-groups", I + "/images",
                                     "/identity/v3/credentials",
                                     "/identity/v3/credentials?user_id={a[user_id]}",
                                     "/identity/v3/credentials?type=ec2"])
def test_b_lists_none_of_a(world: dict[str, Any], listing: str) -> None:
    r = world["cloud"].client.get(_fill(listing, world), headers=world["hb"])
    assert r.status_code == 200, r.text
    assert world["ec2"]["access"] not in r.text and "A-SEED" not in r.text
    for key in ("net", "sub", "port", "router", "sg", "rule", "fip", "server", "group",
                "image", "cred"):
        assert world[key]["id"] not in r.text, f"{listing} shows A's {key}"
    assert "a-key" not in r.text


def test_a_cannot_use_b_port_on_a_shared_network(world: dict[str, Any]) -> None:
    """A owns the shared network and so sees B's port on it: seeing is not using."""
    c, ha, bp = world["cloud"].client, world["ha"], world["b_port"]["id"]
    assert c.get(f"{N}/ports/{bp}", headers=ha).status_code == 200
    r = c.post(f"{C}/servers", headers=ha, json={"server": {
        "name": "x", "flavorRef": "1", "imageRef": IMAGE, "networks": [{"port": bp}]}})
    assert r.status_code in (400, 403, 409), r.text
    r = c.put(f"{N}/routers/{world['router']['id']}/add_router_interface", headers=ha,
              json={"port_id": bp})
    assert r.status_code == 403, r.text
    r = c.put(f"{N}/floatingips/{world['fip']['id']}", headers=ha,
              json={"floatingip": {"port_id": bp}})
    assert r.status_code == 404, r.text
    port = c.get(f"{N}/ports/{bp}", headers=world["hb"]).json()["port"]
    assert port["device_id"] == "" and port["port_security_enabled"] is True


def test_nobody_takes_the_external_network_by_hand(world: dict[str, Any]) -> None:
    c, ha = world["cloud"].client, world["ha"]
    r = c.put(f"{N}/routers/{world['router']['id']}/add_router_interface", headers=ha,
              json={"subnet_id": world["pub_sub"]["id"]})
    assert r.status_code == 403, r.text
    r = c.post(f"{N}/ports", headers=ha, json={"port": {
        "network_id": world["pub"]["id"], "device_owner": "network:router_gateway",
        "fixed_ips": [{"ip_address": "172.30.0.77"}]}})
    assert r.status_code == 403, r.text
    # and on a shared network one does not own, no chosen address, MAC or owner
    shared = world["shared"]["id"]
    hb = world["hb"]
    for port in ({"fixed_ips": [{"ip_address": "10.42.0.99"}]},
                 {"mac_address": "fa:16:3e:12:34:56"},
                 {"device_owner": "network:dhcp"}):
        r = c.post(f"{N}/ports", headers=hb, json={"port": {"network_id": shared, **port}})
        assert r.status_code == 403, (port, r.text)
    r = c.put(f"{N}/routers/{world['b_router']['id']}/add_router_interface", headers=hb,
              json={"subnet_id": world["shared_sub"]["id"]})
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("field,value", [("binding:host_id", "somehost"),
                                         ("binding:profile", {"a": "b"})])
def test_binding_fields_are_for_admins(world: dict[str, Any], field: str, value: Any
                                       ) -> None:
    c, ha = world["cloud"].client, world["ha"]
    r = c.post(f"{N}/ports", headers=ha, json={"port": {
        "network_id": world["net"]["id"], field: value}})
    assert r.status_code == 403, r.text
    r = c.put(f"{N}/ports/{world['port']['id']}", headers=ha, json={"port": {field: value}})
    assert r.status_code == 403, r.text
    r = c.post(f"{N}/ports", headers=world["cloud"].admin(), json={"port": {
        "network_id": world["net"]["id"], field: value}})
    assert r.status_code == 201, r.text


def test_a_still_works_on_its_own(world: dict[str, Any]) -> None:
    """The refusals above are B's alone: A's own objects answer A."""
    c, ha = world["cloud"].client, world["ha"]
    for path in (f"{N}/networks/{world['net']['id']}", f"{N}/ports/{world['port']['id']}",
                 f"{C}/servers/{world['server']['id']}", f"{I}/images/{world['image']['id']}",
                 f"{C}/os-keypairs/a-key"):
        assert c.get(path, headers=ha).status_code == 200, path
    cred = c.get(f"/identity/v3/credentials/{world['cred']['id']}", headers=ha)
    assert cred.status_code == 200 and cred.json()["credential"]["blob"] == "A-SEED"
    ec2 = c.get(f"/identity/v3/users/{world['a']['user_id']}/credentials/OS-EC2/"
                f"{world['ec2']['access']}", headers=ha)
    assert ec2.status_code == 200 and ec2.json()["credential"]["secret"] == \
        world["ec2"]["secret"]
    r = c.post(f"{N}/ports", headers=ha, json={"port": {
        "network_id": world["net"]["id"], "fixed_ips": [{"ip_address": "10.41.0.50"}],
        "device_owner": "network:dhcp", "project_id": world["a"]["project_id"]}})
    assert r.status_code == 201, r.text
    unused = str(uuid.uuid4())
    assert c.get(f"{N}/ports/{unused}", headers=ha).status_code == 404
