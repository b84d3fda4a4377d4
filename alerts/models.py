"""Alert rules (editable, seeded with DOMAIN.md §8), alerts and their inbox, recipients.

Written only by `alerts.services`. An alert is one per rule × subject (a study,
or an order) × quantity: evaluating a study again updates its values and
leaves its status (a justification) as the MPE left it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from .rules import QUANTITIES


class AlertRule(models.Model):
    class Kind(models.TextChoices):
        ABSOLUTE = "absolute", "Above an absolute level"
        DRL_MULTIPLE = "drl_multiple", "Above a multiple of the DRL"
        MEAN_OF_LAST = "mean_of_last", "Mean of the last N exams above a multiple of the DRL"
        DOSE_CHECK = "dose_check", "CT dose check recorded by the scanner"
        PROTOCOL_MEDIAN = "protocol_median", "Above a multiple of the protocol's own median"
        CUMULATIVE = "cumulative", "Cumulative patient dose over a window"
        REPEAT = "repeat", "Repeated examination of the same region"
        TECHNIQUE = "technique", "Change of a protocol's technique on a device"
        ORDER = "order", "Order without dose data"

    code = models.SlugField(max_length=60, unique=True, help_text="Stable name; shipped rules have one")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.CharField(
        max_length=24, blank=True, choices=[(k, f"{label} ({unit})" if unit else label) for k, (label, unit) in QUANTITIES.items()]
    )
    threshold = models.FloatField(
        null=True, blank=True,
        help_text="Absolute and cumulative: the level in the quantity's canonical unit; DRL, mean and median "
        "kinds: the multiple; technique: the tolerated fraction (0.05 = 5 %); order: hours after scheduling",
    )
    threshold_single = models.FloatField(
        null=True, blank=True, help_text="Mean of the last N: the multiple of the DRL one exam must have exceeded"
    )
    count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Mean: the last N exams; median and technique: the history needed"
    )
    window_days = models.FloatField(null=True, blank=True, help_text="Cumulative, repeat and history windows")
    # Scope, blank: any.
    modalities = models.CharField(max_length=40, blank=True, help_text="Comma-separated, e.g. RF,XA")
    procedure = models.ForeignKey(
        "drl.StandardProcedure", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    device = models.ForeignKey("rdsr.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    patient_group = models.CharField(
        max_length=12, blank=True, choices=[("adult", "Adult"), ("paediatric", "Paediatric")]
    )
    body_region = models.CharField(
        max_length=100, blank=True, help_text="Comma-separated words the region must contain, e.g. head,brain"
    )
    body_region_exclude = models.BooleanField(default=False, help_text="Every region but these")
    urgent = models.BooleanField(default=False, help_text="E-mail the recipients at once")
    active = models.BooleanField(default=True)
    source = models.TextField(blank=True, help_text="Where the level comes from")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def modality_list(self) -> tuple[str, ...]:
        return tuple(m.strip().upper() for m in self.modalities.split(",") if m.strip())


class Alert(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        JUSTIFIED = "justified", "Justified"
        INVESTIGATING = "investigating", "Under investigation"
        REPORTED = "reported", "Reported to authority"
        CLOSED = "closed", "Closed"

    class Justification(models.TextChoices):
        CLINICAL = "clinical", "Clinically indicated (complex case)"
        PATIENT_SIZE = "patient-size", "Patient size"
        REPEAT_NEEDED = "repeat-needed", "Repeat needed (motion, artefact, contrast timing)"
        PROTOCOL = "protocol", "Intended protocol change"
        DATA = "data", "Data or mapping error"
        OTHER = "other", "Other (see comment)"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # "study:<pk>" or "order:<pk>": with rule and quantity, what makes repeats one alert.
    subject = models.CharField(max_length=40)
    quantity = models.CharField(max_length=24)
    study = models.ForeignKey("rdsr.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("ris.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey("rdsr.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    procedure = models.ForeignKey(
        "drl.StandardProcedure", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    patient = models.ForeignKey("rdsr.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    exam_date = models.DateField(null=True, blank=True, db_index=True)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=12, blank=True)
    message = models.CharField(max_length=500)
    # Values and context that explain it: patient size, series, protocol, device, rule, threshold, DRL.
    context = models.JSONField(default=dict, blank=True)
    urgent = models.BooleanField(default=False)
    # False once a later evaluation no longer finds it (a corrected value, a changed mapping).
    condition_met = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW, db_index=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    justification = models.CharField(max_length=20, blank=True, choices=Justification.choices)
    first_seen_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject", "quantity"], name="alert_one_per_rule_subject_quantity")
        ]
        indexes = [models.Index(fields=["status", "exam_date"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule}: {self.message}"

    def get_absolute_url(self) -> str:
        return reverse("alert-detail", args=[self.pk])


class AlertNote(models.Model):
    """The alert's history as people see it: comments and status changes, oldest first."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notes")
    at = models.DateTimeField(auto_now_add=True)
    username = models.CharField(max_length=150, blank=True)
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"alert {self.alert_id} {self.username}: {self.text[:40]}"


class AlertRecipient(models.Model):
    """Who is told: urgent alerts at once, and the daily digest; per rule and room (blank: all)."""

    email = models.EmailField()
    name = models.CharField(max_length=100, blank=True)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="recipients")
    device = models.ForeignKey("rdsr.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    urgent = models.BooleanField(default=True, help_text="Immediate e-mail for urgent rules")
    digest = models.BooleanField(default=True, help_text="The daily digest")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class StudyEvaluation(models.Model):
    """Watermark: the study as it was (updated_at) when its alerts were last evaluated."""

    study = models.OneToOneField("rdsr.Study", on_delete=models.CASCADE, related_name="alert_evaluation")
    study_updated_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"study {self.study_id} evaluated {self.evaluated_at:%Y-%m-%d %H:%M}"


class DigestRun(models.Model):
    """One daily digest sent (or skipped as empty), so beat and the sweeper send it once a day."""

    day = models.DateField(unique=True, help_text="The day the digest reports on")
    sent_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)
    exceedances = models.PositiveIntegerField(default=0)
    open_alerts = models.PositiveIntegerField(default=0)
    skipped = models.BooleanField(default=False)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"digest {self.day}"
