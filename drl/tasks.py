"""Celery task of the drl app: map studies that are new or changed since they were mapped."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from .services import mapping_refresh


@shared_task(acks_late=True)
def drl_mapping_refresh() -> int:
    """Run by beat (dosemgmt/celery.py) and by the embedded sweeper; returns how many studies it checked."""
    close_old_connections()
    try:
        return mapping_refresh().studies_checked
    finally:
        close_old_connections()
