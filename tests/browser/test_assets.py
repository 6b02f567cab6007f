"""The console's files: offline (no URL to another origin), no browser storage, shipped in the wheel."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.console import STATIC_DIR

ASSETS = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
# Namespaces are names, not requests: document.createElementNS needs the SVG one.
NAMESPACES = {"http://www.w3.org/2000/svg"}


def test_the_console_has_its_pages() -> None:
    names = {p.relative_to(STATIC_DIR).as_posix() for p in ASSETS}
    assert {"index.html", "console.css", "js/main.js", "js/api.js", "js/live.js", "js/chart.js"} <= names
    pages = {n.removeprefix("js/pages/") for n in names if n.startswith("js/pages/")}
    assert pages == {
        "overview.js", "devices.js", "device.js", "alerts.js", "alert.js",
        "rules.js", "rule.js", "firmware.js", "deployments.js", "deployment.js",
    }  # fmt: skip


def test_no_asset_names_another_origin() -> None:
    for path in ASSETS:
        urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`)]*", path.read_text()))
        assert urls <= NAMESPACES, f"{path.name} names another origin: {urls - NAMESPACES}"


def test_no_asset_uses_browser_storage_or_cookies() -> None:
    for path in ASSETS:
        text = path.read_text()
        for api in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
            assert api not in text, f"{path.name} uses {api}: the token must stay in memory"


def test_every_module_import_resolves_to_a_shipped_file() -> None:
    for path in STATIC_DIR.rglob("*.js"):
        for target in re.findall(r'^import .* from "(\.[^"]+)";', path.read_text(), re.M):
            assert (path.parent / target).resolve().is_file(), f"{path.name} imports missing {target}"


def test_the_wheel_configuration_ships_the_gateway_package_whole() -> None:
    # hatchling puts every file of a listed package in the wheel (not only .py): gateway/ carries the console.
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert re.search(r'packages = \[[^\]]*"gateway"', pyproject)
