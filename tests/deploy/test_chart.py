"""The Helm chart, rendered with helm for the default, dev and prod values and checked document by document."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from iotmon.cli import build_parser
from tests.deploy.conftest import ROOT, check_deploy, of_kind

VALUES = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())
PROD_VALUES = yaml.safe_load((ROOT / "helm" / "values-prod.yaml").read_text())
RELEASE = check_deploy.RELEASE
SERVICES: dict[str, dict[str, Any]] = VALUES["services"]
GRPC_SERVICES = {name: s for name, s in SERVICES.items() if not s.get("http")}
PEER_LABELS = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/part-of": RELEASE}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    pod = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    [only] = pod["spec"]["containers"]
    return only


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    return spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]


def env_of(workload: dict[str, Any]) -> dict[str, Any]:
    """name → plain value, or ("secret", key) for a Secret reference."""
    result: dict[str, Any] = {}
    for entry in container(workload).get("env") or []:
        if "valueFrom" in entry:
            result[entry["name"]] = ("secret", entry["valueFrom"]["secretKeyRef"]["key"])
        else:
            result[entry["name"]] = entry["value"]
    return result


@pytest.mark.parametrize("value_set", list(check_deploy.VALUE_SETS))
def test_every_value_set_lints_renders_and_validates_strictly(helm: Path, render, value_set: str) -> None:
    files = check_deploy.VALUE_SETS[value_set]
    linted = check_deploy.lint(helm, files)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    documents = render(*files)
    assert len(documents) >= 5
    assert check_deploy.validation_errors(documents) == []


def test_the_validator_rejects_what_kubernetes_would(render) -> None:
    deployment = copy.deepcopy(of_kind(render(), "Deployment")[f"{RELEASE}-device"])
    container(deployment)["readinesProbe"] = {"grpc": {"port": 50051}}  # misspelt field
    broken_port = copy.deepcopy(of_kind(render(), "Service")[f"{RELEASE}-device"])
    broken_port["spec"]["ports"][0]["port"] = "fifty"
    errors = check_deploy.validation_errors([deployment, broken_port])
    assert len(errors) == 2, errors


def test_one_deployment_per_service_from_one_template(render) -> None:
    deployments = of_kind(render(), "Deployment")
    assert set(deployments) == {f"{RELEASE}-{name}" for name in SERVICES}
    for name, service in SERVICES.items():
        main = container(deployments[f"{RELEASE}-{name}"])
        assert main["args"] == ["serve", name, "--port", str(service["port"])]
        assert [p["containerPort"] for p in main["ports"]] == [service["port"]]
    # The loop, not copies: values alone add and remove Deployments.
    changed = of_kind(
        render(set_values={"services.analytics.enabled": False, "services.reports.port": 50070}), "Deployment"
    )
    assert set(changed) == set(deployments) - {f"{RELEASE}-analytics"} | {f"{RELEASE}-reports"}
    assert container(changed[f"{RELEASE}-reports"])["args"] == ["serve", "reports", "--port", "50070"]


def test_services_have_native_grpc_probes_and_the_gateway_http_ones(render) -> None:
    deployments = of_kind(render(), "Deployment")
    for name, service in GRPC_SERVICES.items():
        main = container(deployments[f"{RELEASE}-{name}"])
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert main[probe]["grpc"] == {"port": service["port"]}, (name, probe)
    gateway = container(deployments[f"{RELEASE}-gateway"])
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["ports"] == [{"name": "http", "containerPort": SERVICES["gateway"]["port"], "protocol": "TCP"}]


def test_services_reach_each_other_through_kubernetes_services(render) -> None:
    documents = render()
    services = of_kind(documents, "Service")
    [config] = of_kind(documents, "ConfigMap").values()
    for name, service in GRPC_SERVICES.items():
        target = services[f"{RELEASE}-{name}"]
        assert target["spec"]["ports"][0]["port"] == service["port"]
        assert target["spec"]["selector"]["app.kubernetes.io/component"] == name
        assert config["data"][f"IOTMON_{name.upper()}_ADDR"] == f"{RELEASE}-{name}:{service['port']}"
    for deployment in of_kind(documents, "Deployment").values():
        assert container(deployment)["envFrom"] == [{"configMapRef": {"name": RELEASE}}]


def test_network_policy_lets_only_release_pods_reach_grpc_ports(render) -> None:
    documents = render()
    policies = of_kind(documents, "NetworkPolicy")
    assert set(policies) == {f"{RELEASE}-{name}" for name in SERVICES}
    for name, service in GRPC_SERVICES.items():
        spec = policies[f"{RELEASE}-{name}"]["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == name
        assert spec["policyTypes"] == ["Ingress"]
        [rule] = spec["ingress"]
        assert rule["ports"] == [{"port": service["port"], "protocol": "TCP"}]
        assert rule["from"] == [{"podSelector": {"matchLabels": PEER_LABELS}}]
    # The peers that rule admits: every pod of the release (gateway, services, jobs) carries the labels.
    for workload in [*of_kind(documents, "Deployment").values(), *of_kind(documents, "CronJob").values()]:
        assert PEER_LABELS.items() <= pod_template(workload)["metadata"]["labels"].items()
    [gateway_rule] = policies[f"{RELEASE}-gateway"]["spec"]["ingress"]
    assert gateway_rule["ports"] == [{"port": SERVICES["gateway"]["port"], "protocol": "TCP"}]
    prod_rule = of_kind(render("values-prod.yaml"), "NetworkPolicy")[f"{RELEASE}-gateway"]["spec"]["ingress"][0]
    assert prod_rule["from"] == PROD_VALUES["networkPolicy"]["gatewayFrom"]


def test_each_service_has_an_autoscaler_and_a_disruption_budget(render) -> None:
    documents = render()
    deployments = of_kind(documents, "Deployment")
    autoscalers = of_kind(documents, "HorizontalPodAutoscaler")
    budgets = of_kind(documents, "PodDisruptionBudget")
    assert set(autoscalers) == set(budgets) == set(deployments)
    for name, deployment in deployments.items():
        assert autoscalers[name]["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert "replicas" not in deployment["spec"]  # the autoscaler owns it
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # Values turn them off per service; a fixed replica count comes back.
    off = render(
        set_values={"services.device.autoscaling.enabled": False, "services.device.podDisruptionBudget.enabled": False}
    )
    assert f"{RELEASE}-device" not in of_kind(off, "HorizontalPodAutoscaler")
    assert f"{RELEASE}-device" not in of_kind(off, "PodDisruptionBudget")
    assert of_kind(off, "Deployment")[f"{RELEASE}-device"]["spec"]["replicas"] == VALUES["serviceDefaults"]["replicas"]


def test_one_cronjob_per_scheduled_job(render) -> None:
    cronjobs = of_kind(render(), "CronJob")
    assert set(cronjobs) == {f"{RELEASE}-job-{name}" for name in VALUES["jobs"]}
    assert set(VALUES["jobs"]) == {"archival", "cleanup", "health-check", "usage-report"}
    for name, job in VALUES["jobs"].items():
        cronjob = cronjobs[f"{RELEASE}-job-{name}"]
        assert cronjob["spec"]["schedule"] == job["schedule"]
        assert container(cronjob)["args"] == ["job", name]
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    # A job gets the backend settings of the services it uses: archival reads the time-series store.
    archival = env_of(cronjobs[f"{RELEASE}-job-archival"])
    assert archival["IOTMON_TELEMETRY_STORE"] == "postgres"
    assert "IOTMON_ALERTING_STORE" not in archival


def test_cronjobs_are_suspended_while_the_cli_has_no_job_command(render) -> None:
    """Never schedule a command the image lacks; issue 7 adds `iotmon job`, then values may resume them."""
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert commands is not None
    if "job" not in commands:
        assert all(c["spec"]["suspend"] is True for c in of_kind(render(), "CronJob").values())
    resumed = of_kind(render(set_values={"jobs.cleanup.suspend": False}), "CronJob")
    assert resumed[f"{RELEASE}-job-cleanup"]["spec"]["suspend"] is False
    assert resumed[f"{RELEASE}-job-archival"]["spec"]["suspend"] is VALUES["jobDefaults"]["suspend"]


def test_values_choose_backends_without_template_edits(render) -> None:
    real = of_kind(render(), "Deployment")
    embedded = of_kind(
        render(
            set_values={
                "backends.postgres.enabled": False,
                "backends.aws.enabled": False,
                "backends.cognito.enabled": False,
                "backends.kinesis.enabled": False,
            }
        ),
        "Deployment",
    )
    telemetry, telemetry_embedded = env_of(real[f"{RELEASE}-telemetry"]), env_of(embedded[f"{RELEASE}-telemetry"])
    assert telemetry["IOTMON_TELEMETRY_STORE"] == "postgres"
    assert telemetry["IOTMON_TELEMETRY_POSTGRES_DSN"] == ("secret", "postgres-dsn")
    assert telemetry["IOTMON_KINESIS_STREAM"] == "iotmon-telemetry"
    assert not {"IOTMON_TELEMETRY_STORE", "IOTMON_TELEMETRY_POSTGRES_DSN", "IOTMON_KINESIS_STREAM"} & set(
        telemetry_embedded
    )
    device, device_embedded = env_of(real[f"{RELEASE}-device"]), env_of(embedded[f"{RELEASE}-device"])
    assert (device["IOTMON_DEVICE_STORE"], device["IOTMON_DEVICE_REGISTRY"]) == ("dynamodb", "iot-core")
    assert "IOTMON_DEVICE_STORE" not in device_embedded
    assert "AWS_REGION" not in device_embedded
    identity = env_of(real[f"{RELEASE}-identity"])
    assert identity["IOTMON_IDENTITY_PROVIDER"] == "cognito"
    assert env_of(real[f"{RELEASE}-firmware"])["IOTMON_FIRMWARE_OBJECT_STORE"] == "s3"
    notification = env_of(real[f"{RELEASE}-notification"])
    assert (notification["IOTMON_NOTIFICATION_EMAIL_BACKEND"], notification["IOTMON_NOTIFICATION_SMS_BACKEND"]) == (
        "ses",
        "sns",
    )
    # A backend's settings reach only the services it names, and the bus reaches every pod.
    assert "IOTMON_TELEMETRY_POSTGRES_DSN" not in env_of(real[f"{RELEASE}-gateway"])
    for env in (env_of(d) for d in [*real.values(), *embedded.values()]):
        assert env["IOTMON_AMQP_URL"] == ("secret", "amqp-url")
    # A service's own env wins over the backends'.
    overridden = of_kind(render(set_values={"services.telemetry.env.IOTMON_TELEMETRY_STORE": "memory"}), "Deployment")
    assert env_of(overridden[f"{RELEASE}-telemetry"])["IOTMON_TELEMETRY_STORE"] == "memory"


def test_split_services_without_rabbitmq_have_no_shared_bus(render) -> None:
    """Documented limit: the in-process bus only works in one process; values-dev uses the all-in-one pod."""
    no_bus = of_kind(render(set_values={"backends.rabbitmq.enabled": False}), "Deployment")
    assert all("IOTMON_AMQP_URL" not in env_of(d) for d in no_bus.values())


@pytest.mark.parametrize("value_set", list(check_deploy.VALUE_SETS))
def test_pods_run_locked_down(render, value_set: str) -> None:
    documents = render(*check_deploy.VALUE_SETS[value_set])
    workloads = [*of_kind(documents, "Deployment").values(), *of_kind(documents, "CronJob").values()]
    assert workloads
    for workload in workloads:
        pod = pod_template(workload)["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        main = container(workload)
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert {"requests", "limits"} <= set(main["resources"])
        mounts = {m["mountPath"] for m in main["volumeMounts"]}
        assert {"/tmp", "/data"} <= mounts
        # Read-only everywhere but the dev pod, where skaffold's file sync writes into /app.
        assert main["securityContext"]["readOnlyRootFilesystem"] is (value_set != "dev")


def test_aws_adapters_get_their_role_through_irsa(render) -> None:
    documents = render("values-prod.yaml")
    [account] = of_kind(documents, "ServiceAccount").values()
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == PROD_VALUES["serviceAccount"]["roleArn"]
    for workload in [*of_kind(documents, "Deployment").values(), *of_kind(documents, "CronJob").values()]:
        assert pod_template(workload)["spec"]["serviceAccountName"] == account["metadata"]["name"]
    [default_account] = of_kind(render(), "ServiceAccount").values()
    assert "eks.amazonaws.com/role-arn" not in (default_account["metadata"].get("annotations") or {})


def test_credentials_come_from_a_secret_or_an_existing_one(render) -> None:
    documents = render()
    [secret] = of_kind(documents, "Secret").values()
    referenced = {
        value[1]
        for deployment in of_kind(documents, "Deployment").values()
        for value in env_of(deployment).values()
        if isinstance(value, tuple)
    }
    assert referenced
    assert referenced <= set(secret["stringData"])
    # Files from the Secret: the service token and key set the ConfigMap points at.
    [config] = of_kind(documents, "ConfigMap").values()
    mount = VALUES["secret"]["mountPath"]
    for key in ("IOTMON_SERVICE_TOKEN_FILE", "IOTMON_SERVICE_JWKS_PATH"):
        path = Path(config["data"][key])
        assert str(path.parent) == mount
        assert path.name in secret["stringData"]
    for deployment in of_kind(documents, "Deployment").values():
        volumes = {v["name"]: v for v in pod_template(deployment)["spec"]["volumes"]}
        assert volumes["secret-files"]["secret"]["secretName"] == secret["metadata"]["name"]
    # values-prod points at a Secret made outside the chart (External Secrets): none is rendered.
    prod = render("values-prod.yaml")
    assert of_kind(prod, "Secret") == {}
    existing = PROD_VALUES["secret"]["existingSecret"]
    for deployment in of_kind(prod, "Deployment").values():
        for entry in container(deployment)["env"]:
            if "valueFrom" in entry:
                assert entry["valueFrom"]["secretKeyRef"]["name"] == existing


def test_gateway_is_behind_an_alb_ingress_fit_for_websockets(render) -> None:
    [ingress] = of_kind(render("values-prod.yaml"), "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "alb"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] == "idle_timeout.timeout_seconds=3600"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == PROD_VALUES["ingress"]["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{RELEASE}-gateway", "port": {"number": SERVICES["gateway"]["port"]}}


def test_dev_values_run_one_reloading_all_in_one_pod_on_embedded_backends(render) -> None:
    documents = render("values-dev.yaml")
    [deployment] = of_kind(documents, "Deployment").values()
    main = container(deployment)
    command = main["command"]
    assert command[0] == "watchfiles"
    assert "iotmon up --port 8080" in command
    assert {"services", "gateway", "iotmon"} <= set(command)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "env" not in main  # every backend embedded
    assert of_kind(documents, "Secret") == {}
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "CronJob", "Ingress"):
        assert of_kind(documents, kind) == {}, kind
    # Every Service selects that pod, on the port `iotmon up` gives the service.
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = of_kind(documents, "Service")
    assert set(services) == {f"{RELEASE}-{name}" for name in SERVICES}
    container_ports = {p["containerPort"] for p in main["ports"]}
    for service in services.values():
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["spec"]["ports"][0]["targetPort"] in container_ports
    # Without reload, plain `iotmon up`.
    plain = container(
        next(iter(of_kind(render("values-dev.yaml", set_values={"allInOne.reload": False}), "Deployment").values()))
    )
    assert (plain["command"], plain["args"]) == (["iotmon"], ["up", "--port", "8080"])
