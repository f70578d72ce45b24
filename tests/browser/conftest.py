"""A live `overcast up` (fake driver, no dataplane) and a headless Chromium driven by
Selenium, for the web console's user journeys.

`console` is session-scoped: one server and one browser for every journey. The
browser is Debian's `chromium` with its `chromedriver` (scripts/host-packages.txt);
without them, or without Selenium, the tests skip with the reason. Every test ends by
checking the browser's console log for JavaScript errors. Screenshots go to
build/screenshots (git-ignored), or $OVERCAST_SCREENSHOTS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.clients.conftest import Live, free_port, stop_server, wait_ready
from tests.images import add_image

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


class Console:
    """The browser on the live cloud, with the few steps every journey takes."""

    def __init__(self, driver: Any, live: Live, admin_password: str, shots: Path) -> None:
        self.driver = driver
        self.live = live
        self.admin_password = admin_password
        self.shots = shots

    def url(self, path: str) -> str:
        return self.live.base + path

    def go(self, path: str) -> None:
        self.driver.get(self.url(path))

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def wait(self, cond: Any, timeout: float = 20, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                out = cond()
                if out:
                    return out
            except Exception as exc:  # noqa: BLE001 - the page is changing under us
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or cond}: {last}\n"
                             f"{self.driver.current_url}\n{self.driver.page_source[:3000]}")

    def login(self, user: str, password: str) -> None:
        self.driver.delete_all_cookies()
        self.go("/login")
        self.find("#username").send_keys(user)
        self.find("#password").send_keys(password)
        self.find("#login-submit").click()
        self.wait(lambda: self.finds("#logout"), what="the logged-in page")

    def submit_confirmed(self, css: str) -> None:
        """Click a button whose form asks for confirmation, and say yes."""
        self.find(css).click()
        self.wait(lambda: self.driver.switch_to.alert, what="the confirmation").accept()

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def js_errors(self) -> list[dict[str, Any]]:
        """SEVERE entries of the browser's console since the last call, except the
        network ones a test caused on purpose (a refused form's 403)."""
        entries = self.driver.get_log("browser")
        return [e for e in entries if e.get("level") == "SEVERE"
                and not (e.get("source") == "network" and " 403 " in e.get("message", ""))]


def start_chromium(webdriver: Any) -> Any:
    """Headless Debian Chromium under Selenium, keeping the page's console log."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1400,1000", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver


def screenshots_dir() -> Path:
    shots = Path(os.environ.get("OVERCAST_SCREENSHOTS") or ROOT / "build" / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _start(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_AGENT_DRIVER": "fake",
           "OVERCAST_DATAPLANE": "none", "OVERCAST_LOG_LEVEL": "warning"}
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "overcast"), "up", "--data-dir", str(data_dir),
         "--port", str(port), "--no-user-clouds-yaml", "--no-test-image"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -e .[test])")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromium-driver are not installed (scripts/install.sh)")
    data_dir = tmp_path_factory.mktemp("console") / "cloud"
    port = free_port()
    log_path = data_dir.parent / "overcast-up.log"
    proc = _start(data_dir, port, log_path)
    live = Live(data_dir=data_dir, port=port, proc=proc, env={}, log_path=log_path)
    shots = screenshots_dir()
    driver = None
    try:
        wait_ready(live)
        clouds = yaml.safe_load((data_dir / "clouds.yaml").read_text())
        password = clouds["clouds"]["overcast"]["auth"]["password"]
        with httpx.Client(base_url=live.base) as http:
            r = http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
                "methods": ["password"], "password": {"user": {
                    "name": "admin", "domain": {"name": "Default"}, "password": password}}},
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
            add_image(http, {"X-Auth-Token": r.headers["X-Subject-Token"]})
        driver = start_chromium(webdriver)
        yield Console(driver, live, password, shots)
    finally:
        if driver is not None:
            driver.quit()
        stop_server(live)


@pytest.fixture(autouse=True)
def no_javascript_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "console" in request.fixturenames:
        c: Console = request.getfixturevalue("console")
        errors = c.js_errors()
        assert not errors, f"JavaScript errors in the browser's console: {errors}"
