"""The audit trail: one row per view or change of patient data, never updated or deleted."""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        CREATE = "create", "Created"
        CHANGE = "change", "Changed"
        DELETE = "delete", "Deleted"
        MERGE = "merge", "Merged"
        REASSIGN = "reassign", "Reassigned"
        IMPORT = "import", "Imported"
        EXPORT = "export", "Exported"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The account, and its name as it was: the account may be renamed or removed later.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True, db_index=True)
    # "system" work (HL7 feed, store) has no user: its source says where it came from.
    source = models.CharField(max_length=50, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64, blank=True)
    # The patient whose data it is (rdsr.Patient pk), to answer "who saw this patient?".
    patient_pk = models.BigIntegerField(null=True, blank=True, db_index=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username or self.source} {self.action} {self.summary}"
