"""skaffold.yaml: the artifact, file sync that covers the Python packages, the Helm release, port-forward, prod."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tests.deploy.conftest import ROOT, check_deploy, of_kind
from tests.deploy.dockerfile import parse

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
_, STAGES = parse(ROOT / "Dockerfile")
WORKDIRS = {stage.name: stage.all("WORKDIR")[-1].arguments for stage in STAGES if stage.all("WORKDIR")}


def glob_matches(pattern: str, path: str) -> bool:
    """skaffold's sync globs: `**` spans directories, `*` stays inside one."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


def release(config: dict[str, Any]) -> dict[str, Any]:
    [only] = config["deploy"]["helm"]["releases"]
    return only


def test_api_version_and_kind() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4beta")
    assert SKAFFOLD["kind"] == "Config"


def test_the_artifact_builds_the_dev_target_of_the_dockerfile() -> None:
    [artifact] = SKAFFOLD["build"]["artifacts"]
    assert artifact["image"] == "iotmon"
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    assert artifact["docker"]["target"] == "dev" in WORKDIRS


def test_sync_covers_every_python_file_of_the_packages_and_lands_where_python_imports_it() -> None:
    [artifact] = SKAFFOLD["build"]["artifacts"]
    rules = artifact["sync"]["manual"]
    for package in ("services", "gateway", "iotmon"):
        files = [p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")]
        assert files
        for file in files:
            matching = [rule for rule in rules if glob_matches(rule["src"], file)]
            assert matching, file
            # skaffold keeps the path below the destination: services/x.py → /app/services/x.py.
            assert str(PurePosixPath(matching[0]["dest"]) / file) == f"{WORKDIRS['dev']}/{file}"
    assert not any(glob_matches(rule["src"], "tests/conftest.py") for rule in rules)
    assert not any(glob_matches(rule["src"], "pyproject.toml") for rule in rules)  # a dependency change rebuilds


def test_helm_release_uses_the_chart_with_dev_values_and_the_built_image() -> None:
    dev = release(SKAFFOLD)
    assert (ROOT / dev["chartPath"] / "Chart.yaml").is_file()
    assert dev["valuesFiles"] == ["helm/values-dev.yaml"]
    assert all((ROOT / f).is_file() for f in dev["valuesFiles"])
    assert dev["setValueTemplates"]["image.repository"] == "{{.IMAGE_REPO_iotmon}}"
    assert dev["setValueTemplates"]["image.tag"] == "{{.IMAGE_TAG_iotmon}}"


def test_port_forward_reaches_the_gateway_service_the_chart_renders(render) -> None:
    [forward] = SKAFFOLD["portForward"]
    assert forward["resourceType"] == "service"
    services = of_kind(render(*check_deploy.VALUE_SETS["dev"]), "Service")
    assert release(SKAFFOLD)["name"] == check_deploy.RELEASE
    gateway = services[forward["resourceName"]]
    assert gateway["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
    assert forward["port"] == gateway["spec"]["ports"][0]["port"]
    assert forward["localPort"] == 8080


def test_prod_profile_builds_the_runtime_image_without_sync_and_uses_prod_values() -> None:
    [prod] = [p for p in SKAFFOLD["profiles"] if p["name"] == "prod"]
    [artifact] = prod["build"]["artifacts"]
    assert artifact["docker"]["target"] == "runtime" == [s.name for s in STAGES][-1]
    assert "sync" not in artifact
    assert prod["build"]["local"]["push"] is True
    prod_release = release(prod)
    assert prod_release["chartPath"] == release(SKAFFOLD)["chartPath"]
    assert "helm/values-prod.yaml" in prod_release["valuesFiles"]
    assert "helm/values-dev.yaml" not in prod_release["valuesFiles"]
    assert all((ROOT / f).is_file() for f in prod_release["valuesFiles"])
    assert prod_release["setValueTemplates"]["image.digest"] == "{{.IMAGE_DIGEST_iotmon}}"


def test_chart_image_reference_takes_what_skaffold_sets(render) -> None:
    values = {
        "image.repository": "registry.example/iotmon",
        "image.tag": "abc123",
        "image.digest": "sha256:" + "0" * 64,
    }
    deployments = of_kind(render("values-prod.yaml", set_values=values), "Deployment")
    for deployment in deployments.values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"registry.example/iotmon:abc123@sha256:{'0' * 64}"
    assert Path(ROOT / "helm" / "values-prod.yaml").is_file()
