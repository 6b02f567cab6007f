"""The Dockerfile's structure, hadolint, and the .dockerignore that keeps its context small."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib

import pytest

from tests.deploy.conftest import ROOT, check_deploy
from tests.deploy.dockerfile import ancestry, exec_form, parse

DOCKERFILE = ROOT / "Dockerfile"
ARGS, STAGES = parse(DOCKERFILE)
FINAL = STAGES[-1]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|apt-get|apk add|python3?-dev)\b")
SOURCE_PACKAGES = ("services", "gateway", "iotmon")


def test_multi_stage_with_the_runtime_stage_last() -> None:
    names = [stage.name for stage in STAGES]
    assert len(STAGES) >= 3
    assert len(set(names)) == len(names)
    assert FINAL.name == "runtime"
    assert {"builder", "dev"} <= set(names)
    assert ARGS["PYTHON_IMAGE"].startswith("python:3.11-slim")


@pytest.mark.parametrize("stage_name", ["runtime", "dev"])
def test_stages_that_run_are_non_root_without_build_tools(stage_name: str) -> None:
    stage = next(s for s in STAGES if s.name == stage_name)
    [user] = stage.all("USER")[-1:]
    assert user.arguments.split(":")[0] not in ("root", "0")
    for layer in ancestry(STAGES, stage):
        for instruction in layer.instructions:
            assert not BUILD_TOOLS.search(instruction.arguments), (layer.name, instruction)
    # What it runs comes from the builder: the virtual environment and the sources, nothing compiled here.
    copies = [i.arguments for i in stage.all("COPY")]
    assert any("--from=builder" in c and "/opt/venv" in c for c in copies)
    assert all("--from=builder" in c for c in copies)


def test_dependencies_install_in_their_own_layer_before_the_sources() -> None:
    builder = next(s for s in STAGES if s.name == "builder")
    keywords = [(i.keyword, i.arguments) for i in builder.instructions]
    dependency_install = next(n for n, (k, a) in enumerate(keywords) if k == "RUN" and "pip install -r" in a)
    first_source_copy = min(
        n for n, (k, a) in enumerate(keywords) if k == "COPY" and any(p in a.split() for p in SOURCE_PACKAGES)
    )
    pyproject_copy = next(n for n, (k, a) in enumerate(keywords) if k == "COPY" and "pyproject.toml" in a)
    assert pyproject_copy < dependency_install < first_source_copy
    # Only pyproject.toml is in the context of the dependency layer.
    assert all(k != "COPY" for k, _ in keywords[:pyproject_copy])


def test_the_dependency_list_is_read_from_pyproject() -> None:
    """Run the builder's own extraction: it must print the runtime dependencies and the aws extra."""
    builder = next(s for s in STAGES if s.name == "builder")
    run = next(i.arguments for i in builder.all("RUN") if "tomllib" in i.arguments)
    code = re.search(r'python -c "(.*?)" >', run, re.DOTALL)
    assert code is not None
    printed = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert printed == project["dependencies"] + project["optional-dependencies"]["aws"]
    assert any(line.startswith("aioboto3") for line in printed)


@pytest.mark.parametrize("stage_name", ["runtime", "dev"])
def test_the_entrypoint_is_the_iotmon_command(stage_name: str) -> None:
    stage = next(s for s in STAGES if s.name == stage_name)
    assert exec_form(stage.all("ENTRYPOINT")[-1].arguments) == ["iotmon"]
    command = exec_form(stage.all("CMD")[-1].arguments)
    assert command[0] in ("serve", "up")
    # The ports the chart uses are the ones the image documents.
    exposed = " ".join(i.arguments for i in stage.all("EXPOSE"))
    assert "8080" in exposed
    assert "50051-50057" in exposed


def test_dev_sources_are_writable_by_the_app_user_for_file_sync() -> None:
    dev = next(s for s in STAGES if s.name == "dev")
    runtime = next(s for s in STAGES if s.name == "runtime")
    [dev_workdir], [runtime_workdir] = dev.all("WORKDIR"), runtime.all("WORKDIR")
    assert dev_workdir.arguments == runtime_workdir.arguments == "/app"
    assert any("--chown=iotmon" in c.arguments and c.arguments.endswith("/app /app") for c in dev.all("COPY"))
    assert not any("--chown" in c.arguments for c in runtime.all("COPY"))


def test_hadolint_passes_without_ignores() -> None:
    assert "hadolint ignore" not in DOCKERFILE.read_text()
    result = check_deploy.hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD iotmon\n")
    assert check_deploy.hadolint(bad).returncode != 0


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/") or fnmatch.fnmatch(path, bare.replace("**/", "")):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_what_the_image_copies_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in [
        "pyproject.toml",
        "README.md",
        "gen/iot/__init__.py",
        "services/runtime/settings.py",
        "iotmon/cli.py",
    ]:
        assert not _ignored(needed, patterns), needed
    for unwanted in [
        ".venv/bin/python",
        "tests/conftest.py",
        ".git/HEAD",
        "bench/tsdb.py",
        "helm/values.yaml",
        ".cache/x",
    ]:
        assert _ignored(unwanted, patterns), unwanted
