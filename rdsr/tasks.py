"""Celery tasks of the "ocr" queue: each fetches by id and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import close_old_connections

from ingest.services import RETRYABLE_DATABASE_ERRORS, received_object_give_up, received_object_ocr
from ingest.tasks import MAX_RETRIES, retry_countdown

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def ocr_received_object(self, received_object_id: int) -> str:
    close_old_connections()
    try:
        return received_object_ocr(received_object_id=received_object_id).status
    except RETRYABLE_DATABASE_ERRORS as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            error = f"database error, gave up after {self.request.retries + 1} attempts: {exc} [{type(exc).__name__}]"
            received_object_give_up(received_object_id=received_object_id, error=" ".join(error.split()))
            raise
        logger.warning("database error on OCR of received object %s, retrying: %s", received_object_id, exc)
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries), queue="ocr") from exc
    finally:
        close_old_connections()
