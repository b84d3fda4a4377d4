"""Fixtures of the drl tests: the web users, and a small rule helper."""

import pytest

from drl.models import StandardProcedure
from tests.web.conftest import logged_in, staff, user  # noqa: F401


@pytest.fixture
def procedure():
    """Look up a shipped standard procedure by name."""

    def _get(name: str) -> StandardProcedure:
        return StandardProcedure.objects.get(name=name)

    return _get


def cond(field: str, test: str, value: str) -> dict:
    return {"field": field, "test": test, "value": value}
