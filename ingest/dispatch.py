"""Where processing of a received object runs: broker, in-process threads, or here.

With a broker the Celery worker does it. Without one (the embedded server) a
small thread pool started by `serve` does it, and failing that the caller runs
it. Enqueueing never raises: the object is already stored, and the sweeper
re-enqueues whatever is left in RECEIVED, so a broker outage must not turn into
a failed C-STORE.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

# Publishing to a broker that is down must not hold a C-STORE for long.
_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# Without a broker there is no task retry: a few quick local attempts instead.
_LOCAL_ATTEMPTS = 3

_pool: ThreadPoolExecutor | None = None
_ocr_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def enqueue_processing(received_object_id: int) -> None:
    if settings.CELERY_BROKER_URL:
        _publish(received_object_id)
    elif _pool is not None:
        _pool.submit(_run_in_thread, received_object_id)
    else:
        _run_here(received_object_id)


def enqueue_ocr(received_object_id: int) -> None:
    """OCR of a bitmap dose screen: the "ocr" queue, or one in-process thread of its own.

    A screen takes about a second of tesseract: it must never hold up the
    ingest of dose reports behind it. Left undone (broker down), the object
    stays PROCESSING and the sweeper sends it through ingest to here again.
    """
    global _ocr_pool
    if settings.CELERY_BROKER_URL:
        from rdsr.tasks import ocr_received_object

        try:
            ocr_received_object.apply_async(
                args=[received_object_id], queue="ocr", retry=True, retry_policy=_PUBLISH_RETRY_POLICY
            )
        except Exception as exc:
            logger.warning("could not enqueue OCR of received object %s, left for the sweeper: %s",
                           received_object_id, exc)
        return
    with _pool_lock:
        if _pool is not None and _ocr_pool is None:
            _ocr_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-worker")
        pool = _ocr_pool if _pool is not None else None
    if pool is not None:
        pool.submit(_run_ocr_in_thread, received_object_id)
    else:
        _run_ocr_here(received_object_id)


def _run_ocr_here(received_object_id: int) -> None:
    from ingest.services import received_object_ocr

    try:
        received_object_ocr(received_object_id=received_object_id)
    except Exception:
        logger.exception("OCR of received object %s failed; left for the sweeper", received_object_id)


def _run_ocr_in_thread(received_object_id: int) -> None:
    close_old_connections()
    try:
        _run_ocr_here(received_object_id)
    finally:
        connection.close()


def enqueue_processing_many(received_object_ids: list[int]) -> None:
    """Enqueue a batch as one unit of work: one task, one claim, one store transaction."""
    ids = list(dict.fromkeys(int(pk) for pk in received_object_ids))
    if not ids:
        return
    if settings.CELERY_BROKER_URL:
        _coalescer.add(ids)
    elif _pool is not None:
        _pool.submit(_run_many_in_thread, ids)
    else:
        _run_many_here(ids)


# A worker pays about as much for a batch of one as for a batch of twenty:
# batches published within this long of each other go out as one task.
COALESCE_SECONDS = 0.1
COALESCE_MAX = 200


class _Coalescer:
    """Gathers ids for a moment before publishing them as one task.

    Nothing is lost if the process dies meanwhile: the objects are stored and
    RECEIVED, and the sweeper enqueues them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._timer: threading.Timer | None = None

    def add(self, ids: list[int]) -> None:
        with self._lock:
            self._ids.extend(ids)
            full = len(self._ids) >= COALESCE_MAX
            if not full and self._timer is None:
                self._timer = threading.Timer(COALESCE_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            ids, self._ids = self._ids, []
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        for start in range(0, len(ids), COALESCE_MAX):
            _publish_many(ids[start : start + COALESCE_MAX])


_coalescer = _Coalescer()
atexit.register(_coalescer.flush)


def flush_pending() -> None:
    """Publish now what is gathered (before a process exits or stops listening)."""
    _coalescer.flush()


def start_inprocess_workers(n: int) -> ThreadPoolExecutor:
    """Start (once) the threads that process objects when there is no broker."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, n), thread_name_prefix="ingest-worker")
        return _pool


def stop_inprocess_workers(*, wait: bool = True) -> None:
    global _pool, _ocr_pool
    with _pool_lock:
        pool, _pool = _pool, None
        ocr_pool, _ocr_pool = _ocr_pool, None
    for each in (pool, ocr_pool):
        if each is not None:
            each.shutdown(wait=wait)


def enqueue_call(*, task, args: list, run_here) -> None:
    """Other work of the ingest queue (MPPS steps), routed like received objects.

    With a broker `task` is published on the ingest queue; without one
    `run_here()` runs on the in-process pool, or failing that in the caller.
    Never raises: what was stored stays for the sweeper.
    """
    if settings.CELERY_BROKER_URL:
        try:
            task.apply_async(args=args, queue="ingest", retry=True, retry_policy=_PUBLISH_RETRY_POLICY)
        except Exception as exc:
            logger.warning("could not enqueue %s%s, left for the sweeper: %s", task.name, args, exc)
    elif _pool is not None:
        _pool.submit(_call_in_thread, run_here)
    else:
        run_here()


def _call_in_thread(run_here) -> None:
    close_old_connections()
    try:
        run_here()
    finally:
        connection.close()


def _publish(received_object_id: int) -> None:
    from ingest.tasks import process_received_object

    try:
        process_received_object.apply_async(
            args=[received_object_id], queue="ingest", retry=True, retry_policy=_PUBLISH_RETRY_POLICY
        )
    except Exception as exc:
        logger.warning(
            "could not enqueue received object %s, it stays RECEIVED for the sweeper: %s",
            received_object_id,
            exc,
        )


def _publish_many(received_object_ids: list[int]) -> None:
    from ingest.tasks import process_received_objects

    try:
        process_received_objects.apply_async(
            args=[received_object_ids], queue="ingest", retry=True, retry_policy=_PUBLISH_RETRY_POLICY
        )
    except Exception as exc:
        logger.warning(
            "could not enqueue %d received objects (%s...), they stay RECEIVED for the sweeper: %s",
            len(received_object_ids),
            received_object_ids[0],
            exc,
        )


def _run_many_here(received_object_ids: list[int]) -> None:
    from ingest.services import received_objects_process

    run_with_local_retries(
        lambda: received_objects_process(received_object_ids=received_object_ids),
        what=f"batch of {len(received_object_ids)} received objects",
    )


def _run_many_in_thread(received_object_ids: list[int]) -> None:
    close_old_connections()
    try:
        _run_many_here(received_object_ids)
    finally:
        connection.close()


def _run_here(received_object_id: int) -> None:
    from ingest.services import received_object_process

    run_with_local_retries(
        lambda: received_object_process(received_object_id=received_object_id),
        what=f"received object {received_object_id}",
    )


def run_with_local_retries(call: Callable[[], object], *, what: str) -> None:
    """Run work here, without a broker: a few quick attempts stand in for task retries.

    A locked SQLite file or a study another thread is storing at the same
    moment is worth a second try soon; anything else, or the last failure, is
    logged and the work stays stored for the sweeper. Never raises.
    """
    from ingest.services import RETRYABLE_DATABASE_ERRORS

    for attempt in range(_LOCAL_ATTEMPTS):
        try:
            call()
            return
        except RETRYABLE_DATABASE_ERRORS as exc:
            if attempt + 1 < _LOCAL_ATTEMPTS:
                logger.info("%s: %s; trying again", what, exc)
                time.sleep(0.2 * 2**attempt * random.uniform(1, 2))
                continue
            logger.exception("processing %s failed; left for the sweeper", what)
        except Exception:
            logger.exception("processing %s failed; left for the sweeper", what)
            return


def _run_in_thread(received_object_id: int) -> None:
    # Pool threads live as long as the server: treat each task like a request.
    close_old_connections()
    try:
        _run_here(received_object_id)
    finally:
        connection.close()
