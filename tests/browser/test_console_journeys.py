"""The web console in a real headless Chromium, as a person uses it: log in, launch an
instance and watch it become ACTIVE without reloading, give it a floating IP, read its
console log, upload an image with the progress bar, build a network with a subnet and
a router and find it in the topology picture, then delete everything; a member sees no
admin page and no other project's instance; a forged form is refused; logout ends the
session. The journeys run in order and share the cloud.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Console

pytestmark = pytest.mark.browser
state: dict[str, Any] = {}


def test_login_and_overview(console: Console) -> None:
    console.go("/instances")
    assert "/login" in console.driver.current_url  # a page needs a session
    console.login("admin", console.admin_password)
    console.go("/")
    charts = console.finds("#quota-charts svg.donut")
    assert len(charts) >= 5  # and Cinder's two when block storage runs
    assert "Instances" in charts[0].get_attribute("aria-label")
    assert console.find("#current-project").text == "admin"
    console.shot("overview")


def test_launch_and_watch_active(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    console.go("/instances/launch")
    console.find("#name").send_keys("web-1")
    Select(console.find("#image")).select_by_visible_text("test-raw")
    Select(console.find("#flavor")).select_by_index(0)
    console.find("#user_data").send_keys("#!/bin/sh\necho hello\n")
    console.shot("launch")
    console.find("#launch-submit").click()
    console.wait(lambda: "/instances" in console.driver.current_url, what="the table")
    # marks this page: if the table is refreshed by reloading, the mark is gone
    console.driver.execute_script("window.__stillHere = true;")
    console.wait(lambda: console.finds('tr[data-name="web-1"][data-status="ACTIVE"]'),
                 timeout=30, what="web-1 ACTIVE")
    assert console.driver.execute_script("return window.__stillHere === true;")
    console.wait(lambda: not console.finds("#instances-table[data-polling]"),
                 what="polling to stop")
    console.shot("instances")


def test_floating_ip_and_console_log(console: Console) -> None:
    console.go("/instances")
    console.find('tr[data-name="web-1"] a').click()
    console.wait(lambda: console.finds("#console-log"), what="the instance page")
    state["instance_url"] = console.driver.current_url
    assert console.find("#instance-status").text == "ACTIVE"
    console.find("#associate-submit").click()
    note = console.wait(lambda: console.find("p.flash.ok").text, what="the message")
    address = re.search(r"Floating IP (\d+\.\d+\.\d+\.\d+) associated", note)
    assert address, note
    state["fip"] = address.group(1)
    assert state["fip"] in console.find("#floating-ips").text
    assert state["fip"] in console.find("#addresses").text
    log = console.find("#console-log").text
    assert log and "no console log" not in log
    assert "create" in console.find("#action-log").text
    console.shot("instance")


def test_upload_image_with_progress(console: Console, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    data = tmp_path / "disk.raw"
    data.write_bytes(b"\x01" * (4 * 1024 * 1024 + 123))
    console.go("/images")
    console.find("#image-name").send_keys("uploaded-disk")
    Select(console.find("#disk_format")).select_by_visible_text("raw")
    console.find("#image-file").send_keys(str(data))
    console.find("#upload-submit").click()
    console.wait(lambda: console.finds("#uploaded-image"), timeout=30, what="the upload")
    bar = console.find("#upload-progress")
    assert float(bar.get_attribute("value")) == float(bar.get_attribute("max")) == data.stat(
    ).st_size
    assert f"Uploaded {data.stat().st_size} bytes" in console.find("#upload-status").text
    console.shot("images-upload")
    console.find("#uploaded-image").click()
    console.wait(lambda: console.find("#image-status").text == "active", what="active image")
    state["image_url"] = console.driver.current_url


def test_network_with_router_in_topology(console: Console) -> None:
    console.go("/networks")
    console.find("#net-name").send_keys("blue")
    console.find("#cidr").send_keys("192.168.77.0/24")
    console.find("#network-submit").click()
    note = console.wait(lambda: console.find("p.flash").text, what="the message")
    assert "router blue-router" in note, note
    console.shot("networks")
    console.go("/topology")
    svg = console.find("#topology-svg")
    assert svg.find_elements("css selector", 'g.net.network[data-name="blue"]')
    assert svg.find_elements("css selector", 'g.router[data-name="blue-router"]')
    assert svg.find_elements("css selector", 'g.net.external[data-name="public"]')
    assert svg.find_elements("css selector", 'g.instance[data-name="web-1"]')
    console.shot("topology")


def test_member_sees_no_admin_and_no_other_project(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    console.go("/admin")
    console.shot("admin")
    console.find("#p-name").send_keys("mia-project")
    console.find('form[action="/admin/projects/new"] button').click()
    console.wait(lambda: console.finds('#admin-projects tr[data-name="mia-project"]'),
                 what="the project")
    console.find("#u-name").send_keys("mia")
    console.find("#u-pass").send_keys("mia-password")
    Select(console.find("#u-project")).select_by_visible_text("mia-project")
    Select(console.find("#u-role")).select_by_visible_text("member")
    console.find("#user-form button").click()
    console.wait(lambda: console.finds('#admin-users tr[data-name="mia"]'), what="the user")
    console.go("/admin/compute")
    assert "web-1" in console.find("#admin-instances").text
    console.wait(lambda: console.finds("#admin-hypervisors tbody tr"), what="the hypervisors")
    console.login("mia", "mia-password")
    assert not console.finds('a[href="/admin"]')
    console.go("/admin")
    assert "Only administrators" in console.find("#error-message").text
    console.go("/instances")
    assert "web-1" not in console.driver.page_source
    console.driver.get(state["instance_url"])
    assert console.finds("#error-message")  # the API's 404, as a readable page
    console.go("/logout-check-unused")  # an unknown page is a plain 404, not a crash
    console.driver.get_log("browser")  # the 403/404 pages above were expected


def test_forged_form_is_refused(console: Console) -> None:
    console.go("/keypairs")
    # a form built by another page would carry no CSRF token
    console.driver.execute_script("""
        var f = document.createElement('form'); f.method = 'post'; f.action = '/keypairs/new';
        var i = document.createElement('input'); i.name = 'name'; i.value = 'forged';
        f.appendChild(i); document.body.appendChild(f); f.submit();""")
    console.wait(lambda: "security token" in console.driver.page_source, what="the refusal")
    console.go("/keypairs")
    assert not console.finds('tr[data-name="forged"]')
    console.driver.get_log("browser")  # the refusal's 403 was expected


def test_keypair_once_then_logout(console: Console) -> None:
    console.find("#kp-name").send_keys("mia-key")
    console.find("#keypair-create-submit").click()
    key = console.wait(lambda: console.find("#private-key").text, what="the private key")
    assert "PRIVATE KEY" in key
    assert console.find("#private-key-download").get_attribute("download") == "mia-key.pem"
    console.go("/keypairs")
    assert console.finds('tr[data-name="mia-key"]') and "PRIVATE KEY" not in \
        console.driver.page_source
    console.shot("keypairs")
    console.find("#logout").click()
    console.wait(lambda: "/login" in console.driver.current_url, what="the login page")
    console.go("/instances")
    assert "/login" in console.driver.current_url


def test_delete_everything(console: Console) -> None:
    console.login("admin", console.admin_password)
    fip = state["fip"].replace(".", "\\.")  # a CSS id selector
    console.driver.get(state["instance_url"])
    console.find(f"#disassociate-{fip}").click()
    console.wait(lambda: "disassociated" in console.find("p.flash").text, what="disassociate")
    console.go("/networks")
    console.submit_confirmed(f"#release-{fip}")
    console.wait(lambda: "released" in console.find("p.flash").text, what="release")
    console.go("/instances")
    console.submit_confirmed('tr[data-name="web-1"] button[data-action="delete"]')
    console.wait(lambda: not console.finds('tr[data-name="web-1"]'), timeout=30,
                 what="the instance to go")
    console.go("/networks")
    console.submit_confirmed("#delete-router-blue-router")
    console.wait(lambda: "Router deleted" in console.find("p.flash").text, what="router")
    console.wait(lambda: console.finds("#delete-net-blue"), what="the network row")
    console.submit_confirmed("#delete-net-blue")
    console.wait(lambda: "Network deleted" in console.find("p.flash").text, what="network")
    console.driver.get(state["image_url"])
    console.submit_confirmed("#image-delete")
    console.wait(lambda: "Image deleted" in console.find("p.flash").text, what="image")
    assert "uploaded-disk" not in console.find("#images-table").text
    console.go("/topology")
    assert not console.finds('#topology-svg g[data-name="blue"]')
