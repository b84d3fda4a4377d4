"""An export job through a real broker and a real worker on the reports queue."""

import os
import signal
import subprocess

import pytest
from django.urls import reverse

from exports.models import ExportJob
from tests.conftest import broker
from tests.ingest.conftest import CELERY, ROOT, wait_until

from .conftest import SECRET, csv_rows


@pytest.fixture
def reports_worker(transactional_db, child_env, settings, tmp_path):
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    settings.EXPORT_DIR = tmp_path / "exports"
    log_path = tmp_path / "reports-worker.log"
    env = child_env(DOSEMGMT_EXPORT_DIR=str(settings.EXPORT_DIR), DOSEMGMT_EXPORT_SECRET=SECRET)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(CELERY), "-A", "dosemgmt", "worker", "-Q", "reports", "-c", "1", "--without-gossip",
             "--without-mingle", "-l", "info", "-n", f"reports-test-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until(lambda: process.poll() is None and b" ready." in log_path.read_bytes(), timeout=60,
                   what=f"the reports worker to be ready (log {log_path})")
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@broker
def test_the_worker_writes_the_export_and_the_page_offers_it(reports_worker, world, client, staff):
    client.force_login(staff)
    response = client.post(reverse("export-national"), {
        "template": "survey-exam@1", "format": "csv", "date_from": "2024-03-01", "date_to": "2024-03-31"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    wait_until(lambda: ExportJob.objects.get(pk=job.pk).status in ("done", "failed"), timeout=120,
               what="the worker to finish the export job")
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert job.rows_written == 7
    rows = csv_rows(b"".join(client.get(job.get_download_url()).streaming_content))
    assert len(rows) == 8 and rows[0][0] == "Exam pseudonym"
