"""Celery tasks of the ingest queue: each fetches by id and calls one service."""

from __future__ import annotations

import logging
import random
from collections import Counter

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from ingest.mpps import mpps_step_give_up, mpps_step_process, mpps_step_sweep
from ingest.services import (
    RETRYABLE_DATABASE_ERRORS,
    received_object_give_up,
    received_object_process,
    received_objects_process,
    spool_sweep,
)

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 300


def retry_countdown(retries: int) -> float:
    """Exponential back-off with jitter, so retrying workers do not stampede."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(ceiling / 2, ceiling)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def process_received_object(self, received_object_id: int) -> str:
    # Worker processes live for days: a connection the database closed
    # meanwhile must not fail the task.
    close_old_connections()
    try:
        return received_object_process(received_object_id=received_object_id).status
    except RETRYABLE_DATABASE_ERRORS as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            error = f"database error, gave up after {self.request.retries + 1} attempts: {exc} [{type(exc).__name__}]"
            logger.error("received object %s: %s", received_object_id, error)
            try:
                received_object_give_up(received_object_id=received_object_id, error=" ".join(error.split()))
            except RETRYABLE_DATABASE_ERRORS:
                logger.exception("could not mark received object %s failed", received_object_id)
            raise
        logger.warning("database error on received object %s, retrying: %s", received_object_id, exc)
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    finally:
        close_old_connections()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def process_received_objects(self, received_object_ids: list[int]) -> dict[str, int]:
    """A batch: one claim, one store transaction, one finishing update.

    A retry runs the whole batch again; objects already finished are skipped.
    """
    close_old_connections()
    try:
        processed = received_objects_process(received_object_ids=received_object_ids)
        return dict(Counter(r.status for r in processed))
    except RETRYABLE_DATABASE_ERRORS as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            error = f"database error, gave up after {self.request.retries + 1} attempts: {exc} [{type(exc).__name__}]"
            logger.error("batch of %d received objects: %s", len(received_object_ids), error)
            for pk in received_object_ids:
                try:
                    received_object_give_up(received_object_id=pk, error=" ".join(error.split()))
                except RETRYABLE_DATABASE_ERRORS:
                    logger.exception("could not mark received object %s failed", pk)
            raise
        logger.warning(
            "database error on a batch of %d received objects, retrying: %s", len(received_object_ids), exc
        )
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    finally:
        close_old_connections()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def process_mpps_step(self, mpps_step_id: int) -> str:
    """Merge an MPPS step's messages; store its dose record once it is finished."""
    close_old_connections()
    try:
        return mpps_step_process(step_id=mpps_step_id).status
    except RETRYABLE_DATABASE_ERRORS as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            error = f"database error, gave up after {self.request.retries + 1} attempts: {exc} [{type(exc).__name__}]"
            logger.error("MPPS step %s: %s", mpps_step_id, error)
            try:
                mpps_step_give_up(step_id=mpps_step_id, error=" ".join(error.split()))
            except RETRYABLE_DATABASE_ERRORS:
                logger.exception("could not mark MPPS step %s failed", mpps_step_id)
            raise
        logger.warning("database error on MPPS step %s, retrying: %s", mpps_step_id, exc)
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    finally:
        close_old_connections()


@shared_task(acks_late=True)
def sweep_spool() -> int:
    close_old_connections()
    try:
        swept = spool_sweep(older_than_seconds=settings.SWEEPER_STALE_AFTER_SECONDS)
        from ris.services import hl7_message_sweep

        swept += mpps_step_sweep(older_than_seconds=settings.SWEEPER_STALE_AFTER_SECONDS)
        return swept + hl7_message_sweep(older_than_seconds=settings.SWEEPER_STALE_AFTER_SECONDS)
    finally:
        close_old_connections()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def process_hl7_message(self, hl7_message_id: int) -> str:
    """Apply one stored HL7 message (and older unfinished ones of its sender first)."""
    from ris.services import hl7_message_give_up, hl7_message_process

    close_old_connections()
    try:
        return hl7_message_process(message_id=hl7_message_id).status
    except RETRYABLE_DATABASE_ERRORS as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            error = f"database error, gave up after {self.request.retries + 1} attempts: {exc} [{type(exc).__name__}]"
            logger.error("HL7 message %s: %s", hl7_message_id, error)
            try:
                hl7_message_give_up(message_id=hl7_message_id, error=" ".join(error.split()))
            except RETRYABLE_DATABASE_ERRORS:
                logger.exception("could not mark HL7 message %s failed", hl7_message_id)
            raise
        logger.warning("database error on HL7 message %s, retrying: %s", hl7_message_id, exc)
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    finally:
        close_old_connections()
