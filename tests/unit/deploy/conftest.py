"""Fixtures of the deploy tests: the example overlay rendered once by ``kubectl kustomize``."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from bus.tools.deploy import REPO_ROOT

OVERLAY = REPO_ROOT / "deploy" / "k8s" / "overlays" / "example"


def kustomize(path: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize <path>`` renders."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    done = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> list[dict[str, Any]]:
    """Every object of the example overlay."""
    return kustomize(str(OVERLAY))


@pytest.fixture(scope="session")
def by_kind(rendered: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{kind: {name: object}}`` of the example overlay."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in rendered:
        found.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return found
