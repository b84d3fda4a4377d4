"""Orders from the RIS and the reassignments of studies the MPE decided.

Written only by `ris.services`.
"""

from django.conf import settings
from django.db import models


class Order(models.Model):
    """One requested procedure (ORC + OBR), as the latest ORM/OMI left it."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        DISCONTINUED = "discontinued", "Discontinued"
        HELD = "held", "On hold"

    patient = models.ForeignKey("rdsr.Patient", on_delete=models.PROTECT, related_name="orders")
    placer_number = models.CharField(max_length=64, blank=True, db_index=True)
    filler_number = models.CharField(max_length=64, blank=True, db_index=True)
    accession_number = models.CharField(max_length=64, blank=True, db_index=True)
    requested_procedure_id = models.CharField(max_length=64, blank=True)
    # OBR-4: the procedure as the RIS names it, an input of procedure mapping.
    procedure_code = models.CharField(max_length=64, blank=True, db_index=True)
    procedure_text = models.CharField(max_length=200, blank=True)
    procedure_coding_system = models.CharField(max_length=32, blank=True)
    # OBR-31: the clinical indication, an input of procedure mapping too.
    reason = models.CharField(max_length=300, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ordering_location = models.CharField(max_length=100, blank=True)
    ordering_provider = models.CharField(max_length=100, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    last_control = models.CharField(max_length=2, blank=True)  # ORC-1 of the latest message
    # The study this order was done as. Unset, the order matches studies by
    # Study Instance UID, else accession number (ris.selectors); once a person
    # decided (reassignment), only this link counts.
    study = models.ForeignKey(
        "rdsr.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    link_decided = models.BooleanField(default=False)
    last_message = models.ForeignKey(
        "ingest.Hl7Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_at", "-id"]

    def __str__(self) -> str:
        number = self.accession_number or self.filler_number or self.placer_number or f"#{self.pk}"
        return f"order {number} {self.procedure_text or self.procedure_code}".strip()


class StudyReassignment(models.Model):
    """A study moved to another patient and/or order by a person, with why; reversible."""

    study = models.ForeignKey("rdsr.Study", on_delete=models.CASCADE, related_name="reassignments")
    from_patient = models.ForeignKey(
        "rdsr.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_patient = models.ForeignKey("rdsr.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    from_order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    # Set on the reassignment a reversal undid; the reversal is a reassignment itself.
    reversed_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverses"
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"study {self.study_id}: patient {self.from_patient_id} → {self.to_patient_id}"
