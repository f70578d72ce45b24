"""The web console with a real guest (root, QEMU): launch overcast-tiny from the
browser's launch form on `overcast up` with the QEMU driver, watch the table turn
ACTIVE by itself, and read the guest's own boot on the instance page's console log
(overcast-tiny prints OVERCAST-GUEST-UP once its init has run), then delete it from
the table. One guest, one journey: the fake-driver journeys (tests/browser) cover
every other page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.browser.conftest import (
    CHROMEDRIVER,
    CHROMIUM,
    Console,
    screenshots_dir,
    start_chromium,
)
from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready
from tests.e2e.test_real_instances import _driver_missing

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or _driver_missing("qemu") is not None or not CHROMIUM
    or not CHROMEDRIVER, reason="needs root, the QEMU driver, chromium and chromium-driver")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    tmp = tmp_path_factory.mktemp("console-qemu")
    data = tmp / "cloud"
    log = tmp / "up.log"
    port = free_port()
    env = {"OVERCAST_AGENT_DRIVER": "qemu"}
    live = Live(data_dir=data, port=port, proc=_spawn(data, port, log, env), env={},
                log_path=log, spawn_env=env)
    driver = None
    try:
        wait_ready(live, timeout=300)
        password = yaml.safe_load((data / "clouds.yaml").read_text())[
            "clouds"]["overcast"]["auth"]["password"]
        driver = start_chromium(webdriver)
        c = Console(driver, live, password, screenshots_dir())
        c.login("admin", password)
        yield c
        errors = c.js_errors()
        assert not errors, f"JavaScript errors in the browser's console: {errors}"
    finally:
        if driver is not None:
            driver.quit()
        stop_server(live)
        subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir", str(data)],
                       capture_output=True, text=True)


def test_launch_a_real_guest_and_read_its_boot(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    def image_listed() -> bool:
        console.go("/instances/launch")
        return any(o.text == "overcast-tiny" for o in console.finds("#image option"))

    console.wait(image_listed, timeout=300, what="overcast-tiny in the launch form")
    console.find("#name").send_keys("real-1")
    Select(console.find("#image")).select_by_visible_text("overcast-tiny")
    flavors = Select(console.find("#flavor"))
    tiny = next(o.text for o in flavors.options if o.text.startswith("m1.tiny"))
    flavors.select_by_visible_text(tiny)
    console.find("#launch-submit").click()
    console.wait(lambda: "/instances" in console.driver.current_url, what="the table")
    console.driver.execute_script("window.__stillHere = true;")
    console.wait(lambda: console.finds('tr[data-name="real-1"][data-status="ACTIVE"]'),
                 timeout=240, what="real-1 ACTIVE")
    assert console.driver.execute_script("return window.__stillHere === true;")
    console.find('tr[data-name="real-1"] a').click()
    console.wait(lambda: console.finds("#console-log"), what="the instance page")
    page = console.driver.current_url
    started = time.monotonic()

    def booted() -> bool:
        console.driver.get(page)
        return "OVERCAST-GUEST-UP" in console.find("#console-log").text

    console.wait(booted, timeout=300, what="the guest's boot on the console log")
    log = console.find("#console-log").text
    assert "Linux version" in log or "OVERCAST-GUEST-UP" in log
    console.shot("instance-real-guest")
    print(f"guest boot seen on the console page {time.monotonic() - started:.0f} s "
          f"after ACTIVE")
    console.go("/instances")
    console.submit_confirmed('tr[data-name="real-1"] button[data-action="delete"]')
    console.wait(lambda: not console.finds('tr[data-name="real-1"]'), timeout=120,
                 what="the guest to go")
