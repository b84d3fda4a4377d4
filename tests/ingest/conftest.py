"""Fixtures of the ingest tests: a private spool per test, corpus bytes."""

from pathlib import Path

import pytest


@pytest.fixture
def spool(settings, tmp_path) -> Path:
    settings.SPOOL_DIR = tmp_path / "spool"
    return settings.SPOOL_DIR
