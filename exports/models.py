"""Export jobs: a file written in the background, its progress, and who asked for it.

Written only by `exports.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class ExportJob(models.Model):
    class Kind(models.TextChoices):
        STUDIES = "studies", "Studies"
        EVENTS = "events", "Irradiation events"
        NATIONAL = "national", "National authority export"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "File removed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, db_index=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    format = models.CharField(max_length=4, choices=Format.choices, default=Format.CSV)
    # National exports: the template as it was used (id and version).
    template_id = models.CharField(max_length=80, blank=True)
    template_version = models.CharField(max_length=20, blank=True)
    # As given: dates as ISO text, device/procedure as ids.
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # Rows expected (counted when the job starts) and written so far.
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    # Relative to EXPORT_DIR; blank until written and once removed.
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        what = f"{self.template_id} v{self.template_version}" if self.template_id else self.get_kind_display()
        return f"export #{self.pk} {what} ({self.status})"

    @property
    def progress_percent(self) -> int | None:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return None
        return min(99, int(100 * self.rows_written / self.rows_total))

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def get_download_url(self) -> str:
        return reverse("export-download", args=[self.pk])
