"""Celery task of the exports: fetch the job by id and run it (the `reports` queue)."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from .services import export_job_run


@shared_task(acks_late=True)  # published on the reports queue by exports.dispatch
def export_job_run_task(job_id: int) -> str:
    close_old_connections()
    try:
        return export_job_run(job_id=job_id).status
    finally:
        close_old_connections()
