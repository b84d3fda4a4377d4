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


class MppsStep(models.Model):
    """One Modality Performed Procedure Step instance, as N-CREATE and N-SETs built it.

    The SCP creates or updates the row (and writes an MppsMessage) before it
    answers; `ingest.mpps.mpps_step_process` merges the messages and, once the
    step is COMPLETED or DISCONTINUED, stores its dose record.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting for processing"
        IN_PROGRESS = "in_progress", "Step in progress (dose stored when completed)"
        DONE = "done", "Stored as dose record"
        NOT_RELEVANT = "not_relevant", "No dose information (kept)"
        FAILED = "failed", "Failed (needs review)"

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    # Performed Procedure Step Status (0040,0252) as last set: IN PROGRESS,
    # COMPLETED, DISCONTINUED; "" while no N-CREATE has been accepted (only an
    # unreadable one arrived), so a resent N-CREATE is still welcome.
    performed_status = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    calling_ae = models.CharField(max_length=16, blank=True)
    peer_address = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(db_index=True)
    last_message_at = models.DateTimeField()
    message_count = models.PositiveIntegerField(default=0)
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    modality = models.CharField(max_length=16, blank=True)
    # [{"sop_class_uid", "sop_instance_uid", "series_instance_uid"}] from
    # Performed Series Sequence: the RDSR and images the step says it made.
    referenced_instances = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    study = models.ForeignKey(
        "rdsr.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="mpps_steps"
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "MPPS step"

    def __str__(self) -> str:
        return f"MPPS {self.sop_instance_uid} ({self.performed_status or 'not created'})"


class MppsMessage(models.Model):
    """One N-CREATE or N-SET as received: its attribute list is in the spool."""

    class Action(models.TextChoices):
        CREATE = "create", "N-CREATE"
        SET = "set", "N-SET"

    step = models.ForeignKey(MppsStep, on_delete=models.CASCADE, related_name="messages")
    sequence = models.PositiveIntegerField(help_text="Order of the message within its step, from 1")
    action = models.CharField(max_length=8, choices=Action.choices)
    spool_path = models.CharField(max_length=500)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    calling_ae = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField()
    # The status the message set (N-CREATE: IN PROGRESS), "" when it set none.
    performed_status = models.CharField(max_length=16, blank=True)
    # The DIMSE status we answered with.
    answered_status = models.PositiveIntegerField(default=0)
    # Why the message is not used (unreadable attribute list): kept for review.
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["step", "sequence"]
        constraints = [models.UniqueConstraint(fields=["step", "sequence"], name="mpps_message_sequence_unique")]
        verbose_name = "MPPS message"

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.sequence} of {self.step.sop_instance_uid}"


class Hl7Message(models.Model):
    """One HL7 v2 message as received over MLLP, written before it is acknowledged.

    A resend (same sending application, facility and MSH-10 control ID) of a
    message we accepted is answered AA again and not processed twice.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting for processing"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Applied"
        IGNORED = "ignored", "Understood, nothing to do (kept)"
        FAILED = "failed", "Failed (needs review)"
        REJECTED = "rejected", "Rejected (answered AR or AE)"

    # The message exactly as it arrived between the MLLP start and end blocks.
    raw = models.BinaryField()
    sending_application = models.CharField(max_length=227, blank=True)
    sending_facility = models.CharField(max_length=227, blank=True)
    control_id = models.CharField(max_length=199, blank=True)
    message_type = models.CharField(max_length=20, blank=True, db_index=True)  # e.g. ADT^A01
    version = models.CharField(max_length=10, blank=True)
    charset = models.CharField(max_length=20, blank=True)  # MSH-18 as sent
    peer = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(db_index=True)
    last_received_at = models.DateTimeField()
    times_received = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    ack_code = models.CharField(max_length=2, blank=True)  # AA, AE, AR as last answered
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "HL7 message"
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                condition=~models.Q(control_id=""),
                name="hl7_message_unique_control_id_per_sender",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_type or 'HL7'} {self.control_id or '(no control id)'} ({self.get_status_display()})"
