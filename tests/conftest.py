"""One small shared world for every test: the corpus, the service checks."""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("DOSEMGMT_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    # When the run is meant for PostgreSQL and Redis, an unreachable service is
    # a failure of the whole run, never a quiet skip.
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql") and not _reachable(f"//{db['HOST']}:{db['PORT'] or 5432}", 5432):
        pytest.exit(f"PostgreSQL at {db['HOST']}:{db['PORT']} is unreachable", returncode=3)
    broker = settings.CELERY_BROKER_URL
    if broker and not _reachable(broker, 6379):
        pytest.exit(f"Celery broker {broker} is unreachable", returncode=3)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS_DIR / "dicom").is_dir():
        pytest.fail(f"corpus not found at {CORPUS_DIR} (expected ../shared/corpus beside the project)")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_file(corpus_dir):
    def _path(name: str) -> Path:
        path = corpus_dir / "dicom" / name
        assert path.is_file(), path
        return path

    return _path


@pytest.fixture(autouse=True, scope="session")
def _tasks_raise_in_tests():
    # In the embedded server an eager retry must not raise; in tests it must.
    from dosemgmt.celery import app

    app.conf.task_eager_propagates = True


broker = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL, reason="needs CELERY_BROKER_URL (run by `make test-services` and in CI)"
)
