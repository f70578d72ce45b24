"""Block and object storage in a real headless Chromium, as a person uses them: make
a volume, attach it to an instance from the volume's page, see it on the instance's
page, detach it there, delete it; make a container, upload a file into a folder with
the progress bar, download it through the link (byte for byte), delete both. The
journeys share the browser and cloud of tests/browser/conftest.py.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.browser.conftest import Console

pytestmark = pytest.mark.browser


def _launch(console: Console, name: str) -> None:
    from selenium.webdriver.support.ui import Select

    console.go("/instances/launch")
    console.find("#name").send_keys(name)
    Select(console.find("#image")).select_by_visible_text("test-raw")
    console.find("#launch-submit").click()
    console.wait(lambda: console.finds(f'tr[data-name="{name}"][data-status="ACTIVE"]'),
                 timeout=30, what=f"{name} ACTIVE")


def test_volume_create_attach_detach_delete(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    console.login("admin", console.admin_password)
    _launch(console, "disk-host")
    console.go("/volumes")
    console.find("#vol-name").send_keys("data-1")
    console.find("#vol-size").clear()
    console.find("#vol-size").send_keys("2")
    console.find("#volume-submit").click()
    # the list polls by itself until the volume is made: mark the page the form's
    # answer brought (not the form's own page, which the submit is still leaving)
    console.wait(lambda: "Creating volume data-1" in console.find("p.flash").text,
                 what="the volume list after the form")
    console.driver.execute_script("window.__stillHere = true;")
    console.wait(lambda: console.finds('tr[data-name="data-1"][data-status="available"]'),
                 timeout=30, what="data-1 available")
    assert console.driver.execute_script("return window.__stillHere === true;")
    console.shot("volumes")
    console.go("/")
    labels = [c.get_attribute("aria-label") for c in console.finds("#quota-charts svg")]
    assert any(label.startswith("Volumes: 1 used") for label in labels), labels
    assert any(label.startswith("Volume storage: 2 GB used") for label in labels), labels
    console.go("/volumes")
    console.find('tr[data-name="data-1"] a').click()
    console.wait(lambda: console.finds("#attach-form"), what="the volume page")
    Select(console.find("#attach-server")).select_by_visible_text("disk-host")
    console.find("#attach-submit").click()
    console.wait(lambda: console.find("#volume-status").text == "in-use", timeout=30,
                 what="the volume in use")
    assert "disk-host" in console.find("#volume-attachments").text
    console.shot("volume")
    console.find("#volume-attachments a").click()
    detach = console.wait(lambda: console.finds("#instance-volumes button"),
                          what="the instance's volumes")
    console.shot("instance-volumes")
    detach[0].click()
    console.wait(lambda: "Detaching" in console.find("p.flash.ok").text, what="detaching")
    console.go("/volumes")
    console.wait(lambda: console.finds('tr[data-name="data-1"][data-status="available"]'),
                 timeout=30, what="data-1 available again")
    console.submit_confirmed("#delete-volume-data-1")
    console.wait(lambda: not console.finds('tr[data-name="data-1"]'), timeout=30,
                 what="the volume to go")
    console.go("/instances")
    console.submit_confirmed('tr[data-name="disk-host"] button[data-action="delete"]')
    console.wait(lambda: not console.finds('tr[data-name="disk-host"]'), timeout=30,
                 what="the instance to go")


def test_object_upload_with_progress_download_and_delete(console: Console,
                                                         tmp_path: Path) -> None:
    console.login("admin", console.admin_password)
    data = tmp_path / "report.bin"
    data.write_bytes(hashlib.sha256(b"seed").digest() * (96 * 1024) + b"end")  # ~3 MiB
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    console.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(downloads)})
    console.go("/containers")
    console.find("#container-name").send_keys("reports")
    console.find("#container-submit").click()
    console.wait(lambda: console.finds("#object-upload-form"), what="the container page")
    assert "this project only" in console.find("#container-access").text
    console.find("#toggle-public").click()
    console.wait(lambda: "public" in console.find("#container-access").text,
                 what="the public container")
    console.find("#object-folder").send_keys("2026/q4")
    console.find("#object-file").send_keys(str(data))
    console.find("#object-upload-submit").click()
    console.wait(lambda: console.finds("#uploaded-object"), timeout=30, what="the upload")
    bar = console.find("#object-progress")
    size = data.stat().st_size
    assert float(bar.get_attribute("value")) == float(bar.get_attribute("max")) == size
    assert f"Uploaded {size} bytes as 2026/q4/report.bin" in console.find("#object-status").text
    console.shot("container-upload")
    console.go("/containers/reports")
    console.find('tr.folder[data-name="2026/"] a').click()
    console.wait(lambda: console.finds('tr.folder[data-name="2026/q4/"]'), what="2026/")
    console.find('tr.folder[data-name="2026/q4/"] a').click()
    link = console.wait(lambda: console.finds('tr[data-name="2026/q4/report.bin"] a.download'),
                        what="the object")
    console.shot("container")
    link[0].click()
    target = downloads / "report.bin"
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.exists(), list(downloads.iterdir())
    assert target.read_bytes() == data.read_bytes()
    console.submit_confirmed('tr[data-name="2026/q4/report.bin"] button.danger')
    console.wait(lambda: "deleted" in console.find("p.flash.ok").text, what="the deletion")
    assert not console.finds('tr[data-name="2026/q4/report.bin"]')
    console.go("/containers")
    console.submit_confirmed("#delete-container-reports")
    console.wait(lambda: not console.finds('tr[data-name="reports"]'), what="the container")
