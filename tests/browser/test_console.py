"""The operator console in chromium against `iotmon up` with simulated devices (docs/console.md)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import DEVICE_TYPE, Console
from tests.support.mesh import RunningMesh


def test_the_token_stays_in_memory_and_a_reload_signs_out(console: Console) -> None:
    console.sign_in()
    assert console.text("#who").startswith(console.mesh.admin_email)
    storage = console.driver.execute_script("return [localStorage.length, sessionStorage.length, document.cookie]")
    assert storage == [0, 0, ""], f"the token leaked into browser storage: {storage}"
    assert console.driver.get_cookies() == []
    console.wait(lambda d: console.text("#live-state") == "live", "the WebSocket is connected")

    console.driver.refresh()
    console.wait_css("form.sign-in")  # memory only: a reload forgets the session


def test_a_wrong_password_shows_the_api_message_and_request_id(console: Console) -> None:
    console.expected_statuses.add(401)
    console.sign_in(console.mesh.admin_email, "not-the-password")
    box = console.wait_css("form.sign-in .error")
    assert "INVALID_CREDENTIALS" in box.text
    assert console.find("form.sign-in .error .request-id code").text.startswith("req-")


def test_sign_in_with_the_keyboard_only(console: Console) -> None:
    from selenium.webdriver.common.keys import Keys

    console.open()
    focused = console.driver.switch_to.active_element
    assert focused.get_attribute("type") == "email", "the email field has the focus on arrival"
    focused.send_keys(console.mesh.admin_email, Keys.TAB)
    console.driver.switch_to.active_element.send_keys(console.mesh.admin_password, Keys.ENTER)
    console.wait_css(".topbar:not([hidden])")
    # Keyboard users get to the navigation: every nav entry is a real link, focusable in order.
    links = [a.get_attribute("href").split("#", 1)[1] for a in console.finds(".nav a")]
    assert links == ["/overview", "/devices", "/alerts", "/rules", "/firmware", "/deployments"]


def test_a_live_reading_arrives_on_the_device_chart(console: Console, simulated_devices: list[str]) -> None:
    console.sign_in()
    console.go("#/devices", "table")
    names = [a.text for a in console.finds("table a")]
    assert {"console-00001", "console-00002", "console-00003"} <= set(names)
    next(a for a in console.finds("table a") if a.text == "console-00001").click()
    console.wait_css("#live-chart")
    assert console.text("#main h1") == "console-00001"

    first = console.wait(
        lambda d: int(console.find("#live-note").get_attribute("data-received") or 0) >= 1, "a live reading arrives", 30
    )
    assert first
    points = int(console.find("#live-chart").get_attribute("data-points"))
    assert points >= 1
    console.wait(
        lambda d: int(console.find("#live-chart").get_attribute("data-points")) > points, "the live chart grows", 30
    )
    assert console.finds("#live-chart svg path"), "the live chart draws a line"
    # The history chart (5 min buckets by default) and another aggregation.
    console.wait(lambda d: int(console.find("#history-chart").get_attribute("data-points")) >= 1, "history is drawn")
    from selenium.webdriver.support.ui import Select

    Select(console.find("#history-aggregation")).select_by_value("raw")
    console.button("Show").click()
    console.wait(lambda d: "readings from" in console.find("#history-chart + div").text, "raw history is described")
    console.screenshots("device-detail")


def test_an_alert_is_pushed_then_acknowledged_and_resolved(
    console: Console, simulated_devices: list[str], admin_api: httpx.Client
) -> None:
    device_id = simulated_devices[1]
    rule = admin_api.post(
        "/alert-rules",
        json={
            "name": "Console test: overheating",
            "deviceType": DEVICE_TYPE,
            "deviceIds": [device_id],
            "condition": {"metric": "temperature", "operator": ">", "threshold": 60, "duration": 0},
            "severity": "critical",
            "cooldownPeriod": 3600,
        },
    )
    assert rule.status_code == 201, rule.text
    console.sign_in()
    console.go("#/overview", ".tiles")
    hot = {"deviceId": device_id, "timestamp": int(time.time() * 1000), "data": {"temperature": 71.5}}
    sent = admin_api.post("/telemetry", json={"records": [hot]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["accepted"] == 1, sent.text

    # Pushed over /ws to the overview's live feed.
    item = console.wait_css(".feed li a", timeout=30)
    assert "Console test: overheating" in item.text
    console.screenshots("overview")
    item.click()
    console.wait_css("#ack-comment")
    assert "triggered" in console.text("#alert-status")

    console.find("#ack-comment").send_keys("Looking at the HVAC")
    console.button("Acknowledge").click()
    console.wait(lambda d: console.text("#alert-status") == "acknowledged", "the alert is acknowledged")
    assert "Looking at the HVAC" in console.text("#alert-comments")
    console.screenshots("alert-detail")

    console.find("#resolution").send_keys("Fan replaced")
    console.find("#prevention-notes").send_keys("Check the fan monthly")
    console.button("Resolve").click()
    console.wait(lambda d: console.text("#alert-status") == "resolved", "the alert is resolved")
    assert console.text("#alert-resolution") == "Fan replaced"
    alert_id = console.driver.execute_script("return location.hash").rsplit("/", 1)[1]
    stored = admin_api.get(f"/alerts/{alert_id}").json()
    assert stored["status"] == "resolved"
    assert stored["preventionNotes"] == "Check the fan monthly"

    console.go("#/alerts?status=resolved", "table")
    assert any(a.text == "Console test: overheating" for a in console.finds("table a"))
    console.screenshots("alerts")


def test_the_rule_editor_shows_the_api_field_errors_next_to_the_fields(
    console: Console, admin_api: httpx.Client
) -> None:
    from selenium.webdriver.support.ui import Select

    console.expected_statuses.add(400)
    console.sign_in()
    console.go("#/rules", "#new-rule")
    console.find("#new-rule").click()
    console.wait_css("form.editor")
    Select(console.find("form.editor select[name='severity']")).select_by_value("")
    console.button("Create rule").click()

    name_error = console.wait_css("[data-error-for='name']")
    assert "required" in name_error.text
    assert console.find("form.editor input[name='name']").get_attribute("aria-invalid") == "true"
    assert "required" in console.find("[data-error-for='condition.metric']").text
    assert "must be one of" in console.find("[data-error-for='severity']").text
    assert console.find("form.editor .error .request-id code").text.startswith("req-")
    console.screenshots("rule-editor-errors")

    name = f"Console rule {secrets.token_hex(3)}"
    console.find("form.editor input[name='name']").send_keys(name)
    Select(console.find("form.editor select[name='deviceType']")).select_by_value(DEVICE_TYPE)
    console.find("form.editor input[name='condition.metric']").send_keys("humidity")
    Select(console.find("form.editor select[name='condition.operator']")).select_by_value(">=")
    console.find("form.editor input[name='condition.threshold']").send_keys("90")
    Select(console.find("form.editor select[name='severity']")).select_by_value("info")
    console.button("Create rule").click()
    console.wait(lambda d: console.text("#main h1") == f"Rule: {name}", "the created rule opens")
    created = [r for r in admin_api.get("/alert-rules", params={"pageSize": 100}).json()["items"] if r["name"] == name]
    assert len(created) == 1
    assert created[0]["condition"]["threshold"] == 90

    console.go("#/rules", "table")
    assert name in [a.text for a in console.finds("table a")]
    console.screenshots("rules")


def _packed_image(tmp_path: Path, version: str) -> Path:
    payload, image = tmp_path / "app.bin", tmp_path / f"app-{version}.iotf"
    payload.write_bytes(secrets.token_bytes(4096))
    args = [sys.executable, "-m", "iotmon.cli", "firmware", "pack", "--version", version]
    args += ["--device-type", DEVICE_TYPE, "--in", str(payload), "--out", str(image)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return image


def test_firmware_upload_then_a_deployment_with_live_progress_cancel_and_rollback(
    console: Console, simulated_devices: list[str], tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import Select

    console.sign_in()
    console.go("#/firmware", "#fw-version")
    console.find("#fw-version").send_keys("v1.1.0")
    console.find("#fw-device-types").clear()
    console.find("#fw-device-types").send_keys(DEVICE_TYPE)
    console.find("#fw-notes").send_keys("Uploaded by the browser test")
    console.find("#fw-file").send_keys(str(_packed_image(tmp_path, "v1.1.0")))
    console.button("Upload").click()
    result = console.wait_css("#upload-result", timeout=60)
    assert result.get_attribute("data-status") == "validated", result.text
    console.screenshots("firmware")

    console.go("#/deployments", "form[aria-label='New deployment']")
    Select(console.find("form[aria-label='New deployment'] select[name='strategy']")).select_by_value("staged")
    batch = console.find("form[aria-label='New deployment'] input[name='batchSize']")
    batch.clear()
    batch.send_keys("1")
    targets = {c.get_attribute("value") for c in console.finds(".device-checks input:checked")}
    assert set(simulated_devices) <= targets
    for box in console.finds(".device-checks input:checked"):
        if box.get_attribute("value") not in simulated_devices:
            box.click()
    console.button("Start deployment").click()
    console.wait_css("#deployment-progress", timeout=30)

    def count(key: str) -> int:
        return int(console.find(f"#deployment-progress li[data-key='{key}'] strong").text)

    assert count("total") == len(simulated_devices)
    # The first device's install shows up without a reload, pushed over /ws (the page polls only while the
    # socket is down, and it is up: the header says live).
    console.wait(lambda d: count("succeeded") >= 1, "a device reports success", 90)
    assert console.text("#live-state") == "live"
    assert console.find("#deployment-updated").get_attribute("data-source") == "live"
    console.screenshots("deployment")
    if console.find("#cancel-deployment").is_enabled():
        console.find("#deployment-reason").send_keys("browser test")
        console.find("#cancel-deployment").click()
        console.wait(
            lambda d: console.text("#deployment-status") in {"cancelled", "completed"}, "the deployment stops", 30
        )
    console.find("#rollback-deployment").click()
    console.wait(lambda d: console.text("#deployment-status") == "rolled back", "the rollback finishes", 90)
    assert not console.finds("#main .error"), "cancel and rollback answered without an error"
    console.go("#/deployments", "table")
    assert "rolled back" in console.text("table")
    console.screenshots("deployments")


@pytest.mark.parametrize("page", ["overview", "devices", "alerts", "rules", "rules/new", "firmware", "deployments"])
def test_every_page_renders_on_desktop_and_at_375_px(console: Console, simulated_devices: list[str], page: str) -> None:
    console.sign_in()
    console.go(f"#/{page}")
    console.wait(lambda d: not console.finds("#main .muted") or "Loading" not in console.text("#main"), "loaded")
    time.sleep(0.5)  # let the page's first answers land before the picture
    assert not console.finds("#main .error"), console.text("#main")
    console.screenshots("page-" + page.replace("/", "-"))


def test_the_console_is_served_only_with_its_own_files(mesh: RunningMesh) -> None:
    redirect = httpx.get(f"{mesh.gateway}/console", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/console/"
    index = httpx.get(f"{mesh.gateway}/console/")
    assert index.status_code == 200
    assert 'src="js/main.js"' in index.text
    assert httpx.get(f"{mesh.gateway}/console/js/main.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{mesh.gateway}/console/nope.js").status_code == 404
