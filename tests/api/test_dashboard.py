"""The web console's routes against the in-process cloud (fake agents): what a browser
would do, form by form, without the browser (tests/browser drives a real one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_compute import add_agents, wait
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("dash"))
    cloud = next(gen)
    cloud.app.state.local_agents = []
    add_agents(cloud, ["cn1"])
    add_image(cloud.client, cloud.admin())
    cloud.app.state.network.ensure_default_topology(
        cloud.project_of(cloud.admin()), "172.24.4.0/24")
    try:
        yield cloud
    finally:
        gen.close()


class Browser:
    """A TestClient with its own cookie jar, logged in through the login form."""

    def __init__(self, cloud: Cloud) -> None:
        self.c = TestClient(cloud.app, base_url="http://testserver")
        self.csrf = ""

    def login(self, user: str, password: str, expect: int = 303) -> Any:
        page = self.c.get("/login")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        r = self.c.post("/login", data={"csrf": token, "username": user, "password": password,
                                        "domain": "Default"}, follow_redirects=False)
        assert r.status_code == expect, r.text
        return r

    def get(self, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.c.get(path, **kw)
        assert r.status_code == status, (path, r.status_code, r.text[:2000])
        if m := CSRF.search(r.text):
            self.csrf = m.group(1)
        return r

    def post(self, path: str, data: dict[str, Any], csrf: bool = True, **kw: Any) -> Any:
        if not self.csrf:
            self.get("/")
        body = {**data, **({"csrf": self.csrf} if csrf else {})}
        return self.c.post(path, data=body, follow_redirects=False, **kw)

    def flash(self) -> str:
        """The message the next page shows (after a redirect)."""
        page = self.get("/keypairs")
        found = re.findall(r'<p class="flash (\w+)"[^>]*>([^<]*)</p>', page.text)
        return " | ".join(f"{k}: {m}" for k, m in found)


@pytest.fixture(scope="module")
def admin(web: Cloud) -> Browser:
    b = Browser(web)
    b.login("admin", web.admin_password)
    return b


def test_pages_need_a_login_and_static_files_are_versioned(web: Cloud) -> None:
    b = Browser(web)
    r = b.c.get("/instances", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/instances"
    page = b.get("/login")
    css = re.search(r'href="(/static/[0-9a-f]{12}/console.css)"', page.text).group(1)  # type: ignore[union-attr]
    r = b.c.get(css)
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert "http://" not in page.text and "https://" not in page.text  # no outside host
    assert b.c.get("/identity/v3").status_code == 200  # the APIs keep their paths


def test_login_with_a_wrong_password_is_refused(web: Cloud) -> None:
    b = Browser(web)
    r = b.login("admin", "wrong", expect=401)
    assert "user name, password or domain is wrong" in r.text


def test_login_form_without_its_csrf_token_is_refused(web: Cloud) -> None:
    b = Browser(web)
    b.c.get("/login")
    r = b.c.post("/login", data={"username": "admin", "password": web.admin_password},
                 follow_redirects=False)
    assert r.status_code == 403


def test_overview_draws_quota_charts(admin: Browser) -> None:
    page = admin.get("/")
    labels = ["Instances", "vCPUs", "RAM", "Floating IPs", "Security groups"]
    if any(spec.type == "block-storage" for spec in admin.c.app.state.specs):
        labels += ["Volumes", "Volume storage"]  # Cinder's quota usage
    assert page.text.count('<svg class="donut"') == len(labels)
    for label in labels:
        assert f"{label}: " in page.text


def test_launch_watch_active_console_log_and_floating_ip(web: Cloud, admin: Browser) -> None:
    form = admin.get("/instances/launch")
    assert IMAGE in form.text
    r = admin.post("/instances/launch", {"name": "web-1", "image": IMAGE, "flavor": "1",
                                         "security_group": "default", "count": "1",
                                         "user_data": "#!/bin/sh\necho hi\n"})
    assert r.status_code == 303, r.text
    assert "Launching instance web-1" in admin.flash()

    def active() -> bool:
        frag = admin.get("/instances/table", headers={"X-Overcast-Poll": "1"})
        return 'data-name="web-1" data-status="ACTIVE"' in frag.text
    wait(active)
    frag = admin.get("/instances/table", headers={"X-Overcast-Poll": "1"})
    assert "data-polling" not in frag.text  # nothing moves: the table stops polling
    sid = re.search(r'href="/instances/([0-9a-f-]{36})">web-1<', frag.text).group(1)  # type: ignore[union-attr]
    page = admin.get(f"/instances/{sid}")
    assert 'id="console-log"' in page.text and "create" in page.text  # action log
    r = admin.post(f"/instances/{sid}/action", {"action": "associate", "floatingip": "new",
                                                "back": f"/instances/{sid}"})
    assert r.status_code == 303
    assert "Floating IP 172.24.4." in admin.flash()
    page = admin.get(f"/instances/{sid}")
    fip = re.search(r'<li><span class="mono">(172\.24\.4\.\d+)</span>', page.text)
    assert fip, page.text
    r = admin.post(f"/instances/{sid}/action", {"action": "stop", "back": "/instances"})
    assert r.status_code == 303
    wait(lambda: 'data-status="SHUTOFF"' in admin.get("/instances/table").text)
    r = admin.post(f"/instances/{sid}/action", {"action": "delete"})
    assert r.status_code == 303
    wait(lambda: "web-1" not in admin.get("/instances/table").text)


def test_an_api_refusal_is_shown_as_its_message(admin: Browser) -> None:
    r = admin.post("/instances/launch", {"name": "x", "image": IMAGE, "flavor": "nope"})
    assert r.status_code == 303
    assert "error: Flavor nope could not be found" in admin.flash()


def test_forged_form_without_csrf_is_refused(admin: Browser) -> None:
    r = admin.post("/keypairs/new", {"name": "forged"}, csrf=False)
    assert r.status_code == 403
    r = admin.post("/keypairs/new", {"name": "forged", "csrf": "0" * 64}, csrf=False)
    assert r.status_code == 403
    assert 'data-name="forged"' not in admin.get("/keypairs").text


def test_keypair_private_key_is_shown_once(admin: Browser) -> None:
    r = admin.post("/keypairs/new", {"name": "k1"})
    assert r.status_code == 200 and "BEGIN" in r.text and r.headers["cache-control"] == "no-store"
    listing = admin.get("/keypairs")
    assert 'data-name="k1"' in listing.text and "PRIVATE KEY" not in listing.text
    assert admin.post("/keypairs/k1/delete", {}).status_code == 303
    assert 'data-name="k1"' not in admin.get("/keypairs").text


def test_image_upload_is_streamed_to_glance(admin: Browser) -> None:
    r = admin.post("/images/new", {"name": "up1", "disk_format": "raw",
                                   "container_format": "bare", "visibility": "private"})
    assert r.status_code == 201, r.text
    upload = r.json()["upload"]
    data = b"x" * (3 * 1024 * 1024 + 7)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]
    r = admin.c.post(upload, content=chunks(), headers={"X-CSRF-Token": admin.csrf})
    assert r.status_code == 200, r.text
    page = admin.get(r.json()["next"])
    assert ">active<" in page.text and "3.0 MiB" in page.text
    image_id = upload.split("/")[2]
    r = admin.post(f"/images/{image_id}/edit", {"name": "up1", "visibility": "private",
                                                "min_disk": "1", "min_ram": "0",
                                                "properties": "os_distro=cirros"})
    assert r.status_code == 303
    assert "os_distro=cirros" in admin.get(f"/images/{image_id}").text
    # an upload without the CSRF header is refused before a byte reaches Glance
    r = admin.c.post(upload, content=b"zz")
    assert r.status_code == 403
    assert admin.post(f"/images/{image_id}/delete", {}).status_code == 303


def test_network_subnet_router_appear_in_topology(admin: Browser) -> None:
    ext = re.search(r'<option value="([0-9a-f-]{36})" selected>public</option>',
                    admin.get("/networks").text).group(1)  # type: ignore[union-attr]
    r = admin.post("/networks/new", {"name": "blue", "cidr": "192.168.77.0/24",
                                     "router": "1", "external": ext})
    assert r.status_code == 303
    assert "Created network blue, subnet 192.168.77.0/24, router blue-router" in admin.flash()
    svg = admin.get("/topology/svg").text
    assert 'data-name="blue"' in svg and 'data-name="blue-router"' in svg
    rid = re.search(r'action="/routers/([0-9a-f-]{36})/delete"[^>]*data-confirm="Delete '
                    r'router blue-router', admin.get("/networks").text).group(1)  # type: ignore[union-attr]
    assert admin.post(f"/routers/{rid}/delete", {}).status_code == 303
    nid = re.search(r'action="/networks/([0-9a-f-]{36})/delete"[^>]*data-confirm="Delete '
                    r'network blue', admin.get("/networks").text).group(1)  # type: ignore[union-attr]
    assert admin.post(f"/networks/{nid}/delete", {}).status_code == 303
    assert 'data-name="blue"' not in admin.get("/topology/svg").text


def test_member_sees_no_admin_pages_and_no_other_projects(web: Cloud, admin: Browser) -> None:
    user = web.make_project_user("member", prefix="dash")
    b = Browser(web)
    b.login(user["username"], user["password"])
    home = b.get("/")
    assert 'href="/admin"' not in home.text
    b.get("/admin", status=403)
    b.get("/admin/compute", status=403)
    b.get("/admin/compute/hypervisors", status=403, headers={"HX-Request": "true"})
    r = b.post("/admin/projects/new", {"name": "nope"})
    assert r.status_code == 403
    # another project's instance: the API says 404, and so does the console
    r = web.client.post("/compute/v2.1/servers", headers={
        **web.admin(), "OpenStack-API-Version": "compute 2.47"}, json={"server": {
        "name": "secret", "imageRef": IMAGE, "flavorRef": "1", "networks": "none"}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert "secret" not in b.get("/instances").text
    b.get(f"/instances/{sid}", status=404)
    assert 'href="/admin"' in admin.get("/").text
    admin.get("/admin")
    admin.get("/admin/compute")
    web.client.delete(f"/compute/v2.1/servers/{sid}", headers=web.admin())


def test_logout_revokes_the_token(web: Cloud) -> None:
    b = Browser(web)
    b.login("admin", web.admin_password)
    b.get("/")
    sessions = web.app.state.dashboard_sessions
    token = sessions.open(b.c.cookies.get("overcast_session")).token
    cookie = b.c.cookies.get("overcast_session")
    r = b.post("/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = web.client.get("/identity/v3/auth/tokens", headers={**web.admin(),
                                                            "X-Subject-Token": token})
    assert r.status_code == 404
    # the old cookie, replayed, opens nothing: its token is revoked
    replay = TestClient(web.app, base_url="http://testserver")
    replay.cookies.set("overcast_session", cookie)
    r = replay.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_idle_session_ends(web: Cloud) -> None:
    sessions = web.app.state.dashboard_sessions
    b = Browser(web)
    b.login("admin", web.admin_password)
    cookie = b.c.cookies.get("overcast_session")
    assert sessions.open(cookie) is not None
    old = sessions.idle_timeout
    try:
        sessions.idle_timeout = 1
        time.sleep(2.1)
        r = b.c.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    finally:
        sessions.idle_timeout = old


def test_project_switch(web: Cloud, admin: Browser) -> None:
    user = web.make_project_user("member", prefix="sw")
    role = web.role_id("admin")
    admin_user = web.client.get("/identity/v3/users", params={"name": "admin"},
                                headers=web.admin()).json()["users"][0]["id"]
    web.client.put(f"/identity/v3/projects/{user['project_id']}/users/{admin_user}/roles/{role}",
                   headers=web.admin())
    page = admin.get("/projects")
    assert user["project_id"] in page.text
    r = admin.post("/projects/switch", {"project_id": user["project_id"]})
    assert r.status_code == 303
    home = admin.get("/")
    assert "Now working in project sw-p-" in home.text
    r = admin.post("/projects/switch", {"project_id": web.project_of(web.admin())})
    assert r.status_code == 303


def test_pages_carry_a_content_security_policy(admin: Browser) -> None:
    r = admin.get("/instances")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["cache-control"] == "no-store"


def test_login_never_redirects_off_site(web: Cloud) -> None:
    b = Browser(web)
    page = b.get("/login", params={"next": "//evil.example/x"})
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    assert 'name="next" value="/"' in page.text
    r = b.c.post("/login", data={"csrf": token, "username": "admin",
                                 "password": web.admin_password, "next": "https://evil.example"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_volumes_page_creates_and_deletes_when_block_storage_runs(admin: Browser) -> None:
    if not any(spec.type == "block-storage" for spec in admin.c.app.state.specs):
        admin.get("/volumes", status=404)
        return
    assert 'href="/volumes"' in admin.get("/").text
    r = admin.post("/volumes/new", {"name": "data1", "size": "1"})
    assert r.status_code == 303
    assert "Creating volume data1" in admin.flash()
    wait(lambda: 'data-name="data1" data-status="available"' in admin.get("/volumes").text)
    vid = re.search(r'action="/volumes/([0-9a-f-]{36})/delete"',
                    admin.get("/volumes").text).group(1)  # type: ignore[union-attr]
    assert admin.post("/volumes/new", {"name": "bad", "size": "0"}).status_code == 303
    assert "at least 1" in admin.flash()
    assert admin.post(f"/volumes/{vid}/delete", {}).status_code == 303
    wait(lambda: 'data-name="data1"' not in admin.get("/volumes").text)


def test_admin_compute_loads_the_hypervisors_after_the_page(web: Cloud, admin: Browser) -> None:
    """The hypervisors' usage (one Placement read per host) no longer holds up the
    admin compute page: the page asks for it as an htmx fragment, which is also a
    whole page for a browser without JavaScript."""
    page = admin.get("/admin/compute").text
    assert 'hx-get="/admin/compute/hypervisors"' in page and "admin-hypervisors" not in page
    hosts = web.client.get("/compute/v2.1/os-hypervisors", headers=web.admin()).json()
    name = hosts["hypervisors"][0]["hypervisor_hostname"]
    frag = admin.get("/admin/compute/hypervisors", headers={"HX-Request": "true"}).text
    assert 'id="admin-hypervisors"' in frag and name in frag and "<html" not in frag
    whole = admin.get("/admin/compute/hypervisors").text
    assert "<html" in whole and name in whole


def test_volume_attach_extend_snapshot_detach_and_isolation(web: Cloud, admin: Browser) -> None:
    """A volume's whole life from its pages: create, attach to an instance (from the
    volume's page, and seen on the instance's), detach from the instance's page,
    extend, snapshot, delete; a member of another project sees none of it."""
    if not any(spec.type == "block-storage" for spec in web.app.state.specs):
        pytest.skip("this cloud has no block storage")
    r = web.client.post("/compute/v2.1/servers", headers={
        **web.admin(), "OpenStack-API-Version": "compute 2.47"}, json={"server": {
            "name": "vol-host", "imageRef": IMAGE, "flavorRef": "1", "networks": "none"}})
    sid = r.json()["server"]["id"]
    assert admin.post("/volumes/new", {"name": "forged", "size": "1"}, csrf=False
                      ).status_code == 403
    assert admin.post("/volumes/new", {"name": "data2", "size": "1"}).status_code == 303
    wait(lambda: 'data-name="data2" data-status="available"' in admin.get("/volumes").text)
    wait(lambda: 'data-name="vol-host" data-status="ACTIVE"' in admin.get("/instances").text)
    vid = re.search(r'href="/volumes/([0-9a-f-]{36})">data2<',
                    admin.get("/volumes").text).group(1)  # type: ignore[union-attr]
    page = admin.get(f"/volumes/{vid}").text
    assert f'<option value="{sid}">vol-host</option>' in page
    r = admin.post(f"/volumes/{vid}/action", {"action": "attach", "server_id": sid})
    assert r.status_code == 303 and r.headers["location"] == f"/volumes/{vid}"
    assert "Attaching" in admin.flash()
    wait(lambda: ">in-use<" in admin.get(f"/volumes/{vid}").text)
    assert f'id="detach-volume-{vid}"' in admin.get(f"/instances/{sid}").text
    member = Browser(web)
    user = web.make_project_user("member", prefix="dashvol")
    member.login(user["username"], user["password"])
    assert "data2" not in member.get("/volumes").text
    member.get(f"/volumes/{vid}", status=404)
    assert member.post(f"/volumes/{vid}/delete", {}).status_code == 303  # the API's 404
    note = member.flash()
    assert note.startswith("error:") and "not" in note and "found" in note, note
    r = admin.post(f"/instances/{sid}/action", {"action": "detach-volume", "volume_id": vid,
                                                "back": f"/instances/{sid}"})
    assert r.status_code == 303
    wait(lambda: ">available<" in admin.get(f"/volumes/{vid}").text)
    assert admin.post(f"/volumes/{vid}/action", {"action": "extend", "new_size": "2"}
                      ).status_code == 303
    wait(lambda: 'id="volume-size">2 GB' in admin.get(f"/volumes/{vid}").text)
    assert admin.post(f"/volumes/{vid}/action", {"action": "snapshot",
                                                 "snapshot_name": "snap2"}).status_code == 303
    wait(lambda: 'data-name="snap2" data-status="available"' in admin.get("/volumes").text)
    assert 'value="snapshot:' in admin.get("/volumes").text  # a source for a new volume
    snap = re.search(r'action="/volumes/snapshots/([0-9a-f-]{36})/delete"',
                     admin.get("/volumes").text).group(1)  # type: ignore[union-attr]
    assert admin.post(f"/volumes/snapshots/{snap}/delete", {}).status_code == 303
    wait(lambda: 'data-name="snap2"' not in admin.get("/volumes").text)
    assert admin.post(f"/volumes/{vid}/delete", {}).status_code == 303
    wait(lambda: 'data-name="data2"' not in admin.get("/volumes").text)
    web.client.delete(f"/compute/v2.1/servers/{sid}", headers=web.admin())


def test_containers_objects_folders_upload_download_and_isolation(
        web: Cloud, admin: Browser) -> None:
    """A container from its pages: create it public, upload into a pseudo-folder as a
    raw streamed body (refused without the CSRF header), browse the folder, download
    the object byte for byte, make the container private, delete both; a member of
    another project sees none of it."""
    if not any(spec.type == "object-store" for spec in web.app.state.specs):
        pytest.skip("this cloud has no object storage")
    assert 'href="/containers"' in admin.get("/").text
    r = admin.post("/containers/new", {"name": "docs", "public": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/containers/docs"
    page = admin.get("/containers/docs").text
    assert "public: anyone may read it" in page and 'id="object-upload-form"' in page
    data = bytes(range(256)) * 4099 + b"tail"
    refused = admin.c.post("/containers/docs/upload", params={"name": "a/b.bin"},
                           content=data)
    assert refused.status_code == 403
    r = admin.c.post("/containers/docs/upload", params={"name": "reports/2026/b.bin"},
                     content=data, headers={"X-CSRF-Token": admin.csrf,
                                            "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.json()["next"] == "/containers/docs?prefix=reports%2F2026%2F"
    top = admin.get("/containers/docs").text
    assert 'class="folder" data-name="reports/"' in top and "b.bin" not in top
    inner = admin.get("/containers/docs", params={"prefix": "reports/2026/"}).text
    assert 'href="/containers/docs/download/reports/2026/b.bin"' in inner
    got = admin.c.get("/containers/docs/download/reports/2026/b.bin")
    assert got.status_code == 200 and got.content == data
    assert "attachment" in got.headers["content-disposition"]
    admin.get("/containers/docs/download/nope", status=404)
    public_url = f"/object/v1/AUTH_{web.project_of(web.admin())}/docs/reports/2026/b.bin"
    assert web.client.get(public_url).status_code == 200  # public read, as the page says
    assert admin.post("/containers/docs/public", {"public": "no"}).status_code == 303
    assert "this project only" in admin.get("/containers/docs").text
    assert web.client.get(public_url).status_code == 401
    member = Browser(web)
    user = web.make_project_user("member", prefix="dashobj")
    member.login(user["username"], user["password"])
    assert "docs" not in member.get("/containers").text
    assert member.c.get("/containers/docs/download/reports/2026/b.bin").status_code in (403, 404)
    assert admin.post("/containers/docs/delete", {}).status_code == 303
    assert "flash error" in admin.get("/containers").text  # not empty: Swift's 409
    r = admin.post("/containers/docs/delete-object", {"object": "reports/2026/b.bin"})
    assert r.status_code == 303
    assert admin.post("/containers/docs/delete", {}).status_code == 303
    assert 'data-name="docs"' not in admin.get("/containers").text
