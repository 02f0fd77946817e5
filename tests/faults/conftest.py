"""The fault campaign (marker `faults`): the lab's groups, reused."""

from __future__ import annotations

import pytest
from tests.lab.conftest import ssh_group  # noqa: F401 (the fixture, for the campaign's tests)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
