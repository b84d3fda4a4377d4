"""What arrived: one row per received DICOM object, written before we answer."""

from django.db import models


class ReceivedObject(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting for processing"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Stored as dose record"
        NOT_RELEVANT = "not_relevant", "Not a dose object (kept)"
        FAILED = "failed", "Failed (needs review)"

    class Origin(models.TextChoices):
        SCP = "scp", "DICOM network (C-STORE)"
        IMPORT = "import", "File import"

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64, blank=True, db_index=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    origin = models.CharField(max_length=8, choices=Origin.choices)
    calling_ae = models.CharField(max_length=16, blank=True)
    called_ae = models.CharField(max_length=16, blank=True)
    peer_address = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(db_index=True)
    last_received_at = models.DateTimeField()
    times_received = models.PositiveIntegerField(default=1)
    spool_path = models.CharField(max_length=500)
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    # Record kind once parsed: rdsr, esr, not-dose, ...
    kind = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When processing last started: the sweeper re-enqueues what stayed unfinished.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    study = models.ForeignKey(
        "rdsr.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="received_objects"
    )

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.sop_instance_uid} ({self.get_status_display()})"
