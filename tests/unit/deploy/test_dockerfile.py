"""The image cannot be built here (no Docker engine), so its Dockerfile is read and checked for
what the platform team relies on: one conventional image, the project installed with its data
files beside the code, no build tools, a non-root user, ``ecombus`` as the entrypoint."""

from __future__ import annotations

import json
import re

from bus.tools.deploy import REPO_ROOT
from bus.tools.deploy.components import UID

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def test_builds_on_python_311_slim() -> None:
    args = dict(a.split("=", 1) for k, a in instructions() if k == "ARG" and "=" in a)
    bases = [a.split()[0].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) for k, a in instructions()
             if k == "FROM"]
    assert bases and all(b == "python:3.11-slim" for b in bases)


def test_installs_the_project_with_schemas_and_topics_beside_the_code() -> None:
    steps = instructions()
    runs = " ".join(a for k, a in steps if k == "RUN")
    assert re.search(r"pip install (-e|--editable) \.", runs)
    sources = {src for k, a in steps if k == "COPY" and not a.startswith("--from") for src in a.split()[:-1]}
    assert {"pyproject.toml", "README.md", "bus", "services", "schemas", "deploy"} <= sources
    assert ("WORKDIR", "/app") in steps


def test_final_image_runs_as_non_root_with_no_build_tools() -> None:
    stage = final_stage()
    users = [a for k, a in stage if k == "USER"]
    assert users and users[-1].split(":")[0] == str(UID)
    assert any(k == "COPY" and a.startswith("--from=build") for k, a in stage)
    runs = " ".join(a for k, a in stage if k == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|build-essential|make|apt-get install|pip install)\b", runs)


def test_entrypoint_is_ecombus_with_help_by_default() -> None:
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["ecombus"]
    assert json.loads(stage["CMD"]) == ["--help"]


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", "**/__pycache__"} <= ignored
    assert not ignored & {"bus", "services", "schemas", "deploy", "deploy/topics.yaml", "deploy/routes.yaml",
                          "pyproject.toml", "README.md"}
    assert {"deploy/k8s", "deploy/grafana", "deploy/prometheus"} <= ignored
