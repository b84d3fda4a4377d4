"""Where an export job runs: a worker on the `reports` queue, an in-process thread, or here.

With a broker a Celery worker runs it. In the embedded server (`serve`, whose
in-process ingest workers are running) one thread of our own runs the jobs one
after another, so the page that asked returns at once. Elsewhere (a test, a
management shell) the caller runs it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _embedded_server_running() -> bool:
    from ingest import dispatch as ingest_dispatch

    return ingest_dispatch._pool is not None


def enqueue_export(job_id: int) -> None:
    global _pool
    if settings.CELERY_BROKER_URL:
        from .tasks import export_job_run_task

        try:
            export_job_run_task.apply_async(
                args=[job_id], queue="reports", retry=True, retry_policy=_PUBLISH_RETRY_POLICY
            )
        except Exception as exc:
            # The job stays queued and shows so on the jobs page; the user can ask again.
            logger.warning("could not enqueue export job %s: %s", job_id, exc)
        return
    if _embedded_server_running():
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-worker")
            pool = _pool
        pool.submit(_run_in_thread, job_id)
    else:
        _run_here(job_id)


def _run_here(job_id: int) -> None:
    from .services import export_job_run

    export_job_run(job_id=job_id)


def _run_in_thread(job_id: int) -> None:
    close_old_connections()
    try:
        _run_here(job_id)
    except Exception:
        logger.exception("export job %s failed", job_id)
    finally:
        connection.close()
