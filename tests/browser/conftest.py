"""The console in a real browser: Debian's chromium driven by Selenium against `iotmon up` on real ports,
with simulated devices sending readings over HTTP and taking firmware jobs.

Without chromium and chromedriver the tests skip, unless IOTMON_REQUIRE_SERVICES=1 (CI) makes that a failure.
Screenshots go to test-output/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.mesh import RunningMesh, iotmon_up

CHROMIUM = os.environ.get("IOTMON_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IOTMON_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (375, 812)
DEVICE_TYPE = "temperature-sensor-v2"
SIMULATED_DEVICES = 3


def _require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    message = f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("IOTMON_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and IOTMON_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    _require_browser()
    with iotmon_up(Path(tmp_path_factory.mktemp("iotmon"))) as running:
        yield running
        assert running.stop() == 0, "iotmon up must drain and exit 0 on SIGTERM"


@pytest.fixture(scope="package")
def admin_api(mesh: RunningMesh) -> Iterator[httpx.Client]:
    token = mesh.token(role="admin", user="user-browser-admin", email="browser-admin@example.com")
    with httpx.Client(base_url=mesh.gateway, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def simulated_devices(
    mesh: RunningMesh, admin_api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """`iotmon simulate --via http` for the whole package: readings every second per device, firmware jobs
    taken over the HTTP fallback. Ended by its PID."""
    log = tmp_path_factory.mktemp("simulate") / "simulate.log"
    args = [sys.executable, "-m", "iotmon.cli", "simulate", "--via", "http", "--gateway", mesh.gateway]
    args += ["--data-dir", str(mesh.data_dir), "--devices", str(SIMULATED_DEVICES), "--rate", str(SIMULATED_DEVICES)]
    args += ["--prefix", "console", "--duration", "900", "--anomalies", "0", "--firmware-jobs"]
    args += ["--install-seconds", "1", "--reboot-seconds", "0.5", "--initial-firmware", "v1.0.0"]
    with log.open("w") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
    try:
        ids = _wait_for(
            lambda: [d["deviceId"] for d in _devices(admin_api) if d["name"].startswith("console")],
            lambda found: len(found) == SIMULATED_DEVICES,
            60,
            f"the simulator registers its devices ({log})",
        )
        yield sorted(ids)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _devices(api: httpx.Client) -> list[dict[str, Any]]:
    answer = api.get("/devices", params={"pageSize": 100})
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _wait_for(probe: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}; last value {value!r}")
        time.sleep(0.5)


@pytest.fixture(scope="package")
def driver(mesh: RunningMesh) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_window_size(*DESKTOP)
    try:
        yield browser
    finally:
        browser.quit()


class Console:
    """The console in the browser, plus the checks every test shares: no console errors, screenshots."""

    def __init__(self, driver: Any, mesh: RunningMesh):
        self.driver = driver
        self.mesh = mesh
        self.url = f"{mesh.gateway}/console/"
        self.expected_statuses: set[int] = set()

    # navigation and waiting

    def open(self) -> None:
        self.driver.get(self.url)  # a fresh document: whatever was signed in before is gone with the memory
        self.wait_css("form.sign-in")

    def sign_in(self, email: str | None = None, password: str | None = None) -> None:
        self.open()
        self.find("input[type=email]").send_keys(email or self.mesh.admin_email)
        self.find("input[type=password]").send_keys(password or self.mesh.admin_password)
        self.find("form.sign-in button[type=submit]").click()
        if email is None:
            self.wait_css(".topbar:not([hidden])")
            self.wait_css("#main h1")

    def go(self, hash_path: str, ready_css: str = "#main h1") -> None:
        self.driver.execute_script("location.hash = arguments[0]", hash_path)
        self.wait(lambda d: d.execute_script("return location.hash") == hash_path, f"the address is {hash_path}")
        self.wait_css(ready_css)

    def wait(self, condition: Callable[[Any], Any], what: str, timeout: float = 20) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
                condition
            )
        except TimeoutException:
            self.screenshot("failure-" + "".join(c if c.isalnum() else "-" for c in what)[:60])
            raise AssertionError(f"timed out after {timeout} s waiting until {what}") from None

    def wait_css(self, css: str, timeout: float = 20) -> Any:
        from selenium.webdriver.common.by import By

        def found(d: Any) -> Any:
            elements = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
            return elements[0] if elements else False

        return self.wait(found, f"{css} is shown", timeout)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def button(self, text: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.wait(
            lambda d: next(
                (b for b in d.find_elements(By.TAG_NAME, "button") if b.is_displayed() and b.text == text), False
            ),
            f"a button {text!r} is shown",
        )

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    # evidence

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def screenshots(self, name: str) -> None:
        """Desktop and 375 px; at 375 px nothing may be wider than the screen."""
        self.screenshot(f"{name}-desktop")
        self.driver.set_window_size(*PHONE)
        try:
            time.sleep(0.3)
            overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            self.screenshot(f"{name}-375")
            assert overflow <= 0, f"{name}: the page is {overflow} px wider than a 375 px screen"
        finally:
            self.driver.set_window_size(*DESKTOP)

    def console_errors(self) -> list[str]:
        """SEVERE browser log entries, except failed responses the test provoked on purpose."""
        errors = []
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            message = str(entry["message"])
            if any(f"status of {status} " in message for status in self.expected_statuses):
                continue
            errors.append(message)
        return errors


@pytest.fixture
def console(driver: Any, mesh: RunningMesh) -> Iterator[Console]:
    page = Console(driver, mesh)
    driver.get_log("browser")  # drop what earlier tests left
    yield page
    errors = page.console_errors()
    assert not errors, "the browser console has errors:\n" + "\n".join(errors)
