"""The chaos suite runs ``ecombus chaos`` as a process, against its own Kafka: integration tests.

Tests marked ``mutation`` (the mutation checks, about 25 minutes in all) run only when
``ECOMBUS_CHAOS_MUTATIONS=1`` is set, as ``make chaos-mutations`` does; ``make test`` (CI) runs
the bounded run alone.
"""

from __future__ import annotations

import os

import pytest

MUTATIONS_ENV = "ECOMBUS_CHAOS_MUTATIONS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"mutation checks run with {MUTATIONS_ENV}=1 (make chaos-mutations)")
    for item in items:
        if "/chaos/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("mutation") and os.environ.get(MUTATIONS_ENV) != "1":
                item.add_marker(skip)
