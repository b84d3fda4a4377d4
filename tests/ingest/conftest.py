"""Fixtures of the ingest tests: a private spool, child processes, real workers."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"


def receive(data: bytes, *, enqueue: bool = False, origin: str = "import"):
    """Store an object as the SCP or the importer does, reading only its UIDs."""
    from ingest.services import received_object_store

    ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"])
    return received_object_store(
        data=data,
        sop_instance_uid=ds.SOPInstanceUID,
        sop_class_uid=ds.SOPClassUID,
        origin=origin,
        enqueue=enqueue,
    ).received


@pytest.fixture
def spool(settings, tmp_path) -> Path:
    settings.SPOOL_DIR = tmp_path / "spool"
    return settings.SPOOL_DIR


@pytest.fixture
def no_broker(settings) -> None:
    """Dispatch as the embedded server does, even in a run that has a broker."""
    settings.CELERY_BROKER_URL = None


def _database_url() -> str:
    # The database this test runs on (pytest-django's test database), as a URL
    # a child process can be given.
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def child_env(spool, settings):
    """Environment for a child process (manage.py, celery worker) that must
    see this test's database, spool and broker."""

    def _env(**overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_database_url(),
            DOSEMGMT_SPOOL_DIR=str(spool),
            DOSEMGMT_DATA_DIR=str(settings.DATA_DIR),
            PYTHONUNBUFFERED="1",
        )
        if settings.CELERY_BROKER_URL:
            env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env.update(overrides)
        return env

    return _env


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    """Poll `predicate` until it is truthy; fail clearly after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class CeleryWorker:
    """A real `celery worker` process group on the ingest queue."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 60) -> CeleryWorker:
        self._log = self.log_path.open("ab")
        start_offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "dosemgmt",
                "worker",
                "-Q",
                "ingest",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
                "-n",
                f"ingest-test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"celery worker exited with {self.process.returncode}:\n{self.log()}")
            return b" ready." in self.log_path.read_bytes()[start_offset:]

        wait_until(ready, timeout=timeout, what=f"the celery worker to be ready (log {self.log_path})")
        return self

    def kill(self) -> None:
        # The whole group: main process and pool children, as a power cut would.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@pytest.fixture
def celery_worker(transactional_db, child_env, settings, tmp_path):
    """Start real workers against this test's database; a fresh broker database."""
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    workers: list[CeleryWorker] = []

    def _start() -> CeleryWorker:
        worker = CeleryWorker(child_env(), tmp_path / "celery-worker.log")
        workers.append(worker)
        return worker.start()

    yield _start
    for worker in workers:
        worker.stop()
