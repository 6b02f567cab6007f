"""observability.prometheus: metrics exported for Prometheus from every service pod, reachable and annotated."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.conftest import ROOT, check_deploy, of_kind
from tests.deploy.test_chart import SERVICES, container, env_of, pod_template

RELEASE = check_deploy.RELEASE
PROD_VALUES = yaml.safe_load((ROOT / "helm" / "values-prod.yaml").read_text())
EXPORTER = {
    "OTEL_METRICS_EXPORTER": "prometheus",
    "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
    "OTEL_EXPORTER_PROMETHEUS_PORT": "9464",
}
ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/port": "9464", "prometheus.io/path": "/metrics"}


def metrics_ports(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in container(workload)["ports"] if p.get("name") == "metrics"]


def test_off_by_default_no_pod_exports_or_is_annotated(render) -> None:
    documents = render()
    for workload in [*of_kind(documents, "Deployment").values(), *of_kind(documents, "CronJob").values()]:
        assert not set(EXPORTER) & set(env_of(workload))
        assert not set(ANNOTATIONS) & set(pod_template(workload)["metadata"].get("annotations") or {})
    assert not any(metrics_ports(d) for d in of_kind(documents, "Deployment").values())
    config = of_kind(documents, "ConfigMap")[RELEASE]["data"]
    assert not [name for name in config if name.startswith("OTEL_")]


def test_on_every_service_pod_serves_metrics_on_all_interfaces(render) -> None:
    documents = render(set_values={"observability.prometheus.enabled": True})
    deployments = of_kind(documents, "Deployment")
    assert set(deployments) == {f"{RELEASE}-{name}" for name in SERVICES}
    for deployment in deployments.values():
        assert EXPORTER.items() <= env_of(deployment).items()
        assert ANNOTATIONS.items() <= pod_template(deployment)["metadata"]["annotations"].items()
        assert metrics_ports(deployment) == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    # Scheduled jobs are short-lived: no exporter there.
    for job in of_kind(documents, "CronJob").values():
        assert not set(EXPORTER) & set(env_of(job))
    # The metrics port is open to anyone (scrapeFrom empty) besides the service's own port rule.
    for name, service in SERVICES.items():
        rules = of_kind(documents, "NetworkPolicy")[f"{RELEASE}-{name}"]["spec"]["ingress"]
        assert rules[0]["ports"] == [{"port": service["port"], "protocol": "TCP"}]
        assert rules[1] == {"ports": [{"port": 9464, "protocol": "TCP"}]}
    assert check_deploy.validation_errors(documents) == []


def test_port_annotations_and_a_services_own_env_are_honoured(render) -> None:
    documents = render(
        set_values={
            "observability.prometheus.enabled": True,
            "observability.prometheus.port": 9100,
            "observability.prometheus.annotations": False,
            "services.telemetry.env.OTEL_METRICS_EXPORTER": "otlp",
        }
    )
    deployments = of_kind(documents, "Deployment")
    gateway, telemetry = deployments[f"{RELEASE}-gateway"], deployments[f"{RELEASE}-telemetry"]
    assert env_of(gateway)["OTEL_EXPORTER_PROMETHEUS_PORT"] == "9100"
    assert metrics_ports(gateway)[0]["containerPort"] == 9100
    assert "prometheus.io/scrape" not in pod_template(gateway)["metadata"]["annotations"]
    assert env_of(telemetry)["OTEL_METRICS_EXPORTER"] == "otlp"
    assert env_of(telemetry)["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"


def test_prod_scrapes_from_the_monitoring_namespace(render) -> None:
    documents = render("values-prod.yaml")
    rules = of_kind(documents, "NetworkPolicy")[f"{RELEASE}-telemetry"]["spec"]["ingress"]
    assert rules[1]["from"] == PROD_VALUES["observability"]["prometheus"]["scrapeFrom"]
    assert env_of(of_kind(documents, "Deployment")[f"{RELEASE}-device"])["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"


def test_the_all_in_one_pod_exports_too(render) -> None:
    documents = render("values-dev.yaml", set_values={"observability.prometheus.enabled": True})
    [pod] = of_kind(documents, "Deployment").values()
    assert EXPORTER.items() <= env_of(pod).items()
    assert ANNOTATIONS.items() <= pod_template(pod)["metadata"]["annotations"].items()
    assert metrics_ports(pod)[0]["containerPort"] == 9464
    assert check_deploy.validation_errors(documents) == []
