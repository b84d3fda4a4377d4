"""Standard procedures, mapping rules and their results, DRL sets.

Written only by `drl.services`. The dose records (rdsr) are read, never
written: which procedure a study or CT event is lives here, in StudyMapping and
EventMapping. DRL values are stored in the canonical unit of their quantity
(DOMAIN.md §4), whatever unit the source publishes them in.
"""

from __future__ import annotations

from django.db import models

from .mapping import FIELD_LABELS, LEVELS, TEST_LABELS

MODALITY_CHOICES = [
    ("CT", "CT"),
    ("DX", "Radiography (DX/CR)"),
    ("MG", "Mammography"),
    ("RF", "Fluoroscopy"),
    ("XA", "Interventional / angiography"),
]

# quantity -> (label, canonical unit). The unit is part of the meaning of a value.
QUANTITIES = {
    "ctdivol": ("CTDIvol", "mGy"),
    "dlp": ("DLP", "mGy·cm"),
    "dap": ("DAP (KAP)", "Gy·cm²"),
    "kar": ("Ka,r", "mGy"),
    "agd": ("AGD", "mGy"),
    "fluoro_time": ("Fluoroscopy time", "s"),
    "images": ("Number of images", "images"),
    "esak": ("Entrance surface air kerma", "mGy"),
}
QUANTITY_CHOICES = [(key, label) for key, (label, _unit) in QUANTITIES.items()]
DRL_LEVELS = [("sequence", "Per sequence"), ("exam", "Per exam"), ("view", "Per view")]


class StandardProcedure(models.Model):
    name = models.CharField(max_length=120, unique=True)
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES)
    body_region = models.CharField(max_length=80, blank=True)
    # RadLex Playbook identifier (e.g. "RPID2492"); blank where none was verified.
    radlex_playbook_id = models.CharField(max_length=20, blank=True)
    active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["modality", "name"]

    def __str__(self) -> str:
        return self.name


class MappingRule(models.Model):
    """An ordered rule: the first active rule of a level that matches decides (drl.mapping)."""

    LEVEL_CHOICES = list(LEVELS.items())

    priority = models.PositiveIntegerField(default=100, help_text="Lower numbers are tried first")
    level = models.CharField(max_length=8, choices=LEVEL_CHOICES, default="study")
    procedure = models.ForeignKey(StandardProcedure, on_delete=models.PROTECT, related_name="rules")
    # "" any modality; a device restricts the rule to one room.
    modality = models.CharField(max_length=8, blank=True)
    device = models.ForeignKey(
        "rdsr.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # [{"field": <FIELD_LABELS key>, "test": "contains"|"exact"|"regex", "value": str}, ...], all must hold.
    conditions = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["level", "priority", "id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.describe()} → {self.procedure}"

    def describe(self) -> str:
        parts = [
            f"{FIELD_LABELS.get(c.get('field'), c.get('field'))} {TEST_LABELS.get(c.get('test'), c.get('test'))} "
            f"“{c.get('value')}”"
            for c in self.conditions or []
        ]
        if self.modality:
            parts.insert(0, f"modality {self.modality}")
        if self.device_id:
            parts.insert(0, f"device {self.device}")
        return " and ".join(parts) or "(no condition)"


class MappingSource(models.TextChoices):
    RULE = "rule", "Rule"
    MANUAL = "manual", "Manual"
    STUDY = "study", "From its study"  # a CT event that takes its exam's procedure
    NONE = "none", "Unmapped"


class StudyMapping(models.Model):
    """The standard procedure of one study (null: unmapped, listed in the inbox)."""

    study = models.OneToOneField("rdsr.Study", on_delete=models.CASCADE, related_name="drl_mapping")
    procedure = models.ForeignKey(
        StandardProcedure, null=True, blank=True, on_delete=models.SET_NULL, related_name="study_mappings"
    )
    rule = models.ForeignKey(MappingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=8, choices=MappingSource.choices, default=MappingSource.NONE)
    # What the inbox lists the study under: modality, which fact, and its value.
    modality = models.CharField(max_length=8, blank=True, db_index=True)
    name_field = models.CharField(max_length=24, blank=True)
    name = models.CharField(max_length=200, blank=True, db_index=True)
    # Study.updated_at when it was mapped: a later change of the study maps it again.
    study_updated_at = models.DateTimeField(null=True, blank=True)
    mapped_at = models.DateTimeField(auto_now=True)
    decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [models.Index(fields=["procedure", "modality"])]

    def __str__(self) -> str:
        return f"study {self.study_id} → {self.procedure or 'unmapped'}"


class EventMapping(models.Model):
    """The standard procedure of one CT event (sequence): CTDIvol DRLs are per sequence."""

    event = models.OneToOneField(
        "rdsr.IrradiationEvent", on_delete=models.CASCADE, related_name="drl_mapping"
    )
    study = models.ForeignKey("rdsr.Study", on_delete=models.CASCADE, related_name="+")
    procedure = models.ForeignKey(
        StandardProcedure, null=True, blank=True, on_delete=models.SET_NULL, related_name="event_mappings"
    )
    rule = models.ForeignKey(MappingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=8, choices=MappingSource.choices, default=MappingSource.NONE)
    name = models.CharField(max_length=200, blank=True, db_index=True)
    mapped_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"event {self.event_id} → {self.procedure or 'unmapped'}"


class MappingChange(models.Model):
    """History: a study's or CT event's procedure changed (old → new), why and by whom."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    study = models.ForeignKey("rdsr.Study", on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(
        "rdsr.IrradiationEvent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    old_procedure = models.ForeignKey(
        StandardProcedure, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_procedure = models.ForeignKey(
        StandardProcedure, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Names as they were, should a procedure be renamed later.
    old_name = models.CharField(max_length=120, blank=True)
    new_name = models.CharField(max_length=120, blank=True)
    rule = models.ForeignKey(MappingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"study {self.study_id}: {self.old_name or 'unmapped'} → {self.new_name or 'unmapped'}"


class DrlSet(models.Model):
    class Kind(models.TextChoices):
        NATIONAL = "national", "National"
        REGIONAL = "regional", "Regional"
        LOCAL = "local", "Local"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    jurisdiction = models.CharField(max_length=100, blank=True)
    source = models.TextField(blank=True, help_text="Citation of the primary document")
    source_url = models.URLField(blank=True)
    version = models.CharField(max_length=50, blank=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-valid_from", "name"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="drl_set_unique_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class DrlValue(models.Model):
    """One DRL (and, where known, typical value) in the canonical unit of its quantity."""

    class PatientGroup(models.TextChoices):
        ADULT = "adult", "Adult"
        PAEDIATRIC = "paediatric", "Paediatric"

    drl_set = models.ForeignKey(DrlSet, on_delete=models.CASCADE, related_name="values")
    procedure = models.ForeignKey(StandardProcedure, on_delete=models.PROTECT, related_name="drl_values")
    quantity = models.CharField(max_length=16, choices=QUANTITY_CHOICES)
    # The canonical unit of the quantity (QUANTITIES), shown beside the value.
    unit = models.CharField(max_length=12)
    level = models.CharField(max_length=10, choices=DRL_LEVELS)
    patient_group = models.CharField(max_length=12, choices=PatientGroup.choices, default=PatientGroup.ADULT)
    # Bands, lower bound included, upper bound excluded; null: open.
    age_min_years = models.FloatField(null=True, blank=True)
    age_max_years = models.FloatField(null=True, blank=True)
    weight_min_kg = models.FloatField(null=True, blank=True)
    weight_max_kg = models.FloatField(null=True, blank=True)
    phantom = models.CharField(max_length=8, blank=True, help_text="head16 or body32 for CTDIvol")
    thickness_min_mm = models.FloatField(null=True, blank=True, help_text="Mammography: compressed thickness")
    thickness_max_mm = models.FloatField(null=True, blank=True)
    value = models.FloatField()
    typical_value = models.FloatField(null=True, blank=True)
    # As the source publishes it, e.g. "12 cGy·cm²", when that is not the canonical unit.
    published_as = models.CharField(max_length=60, blank=True)
    # Local sets: how many rooms and exams the value rests on.
    rooms = models.PositiveIntegerField(null=True, blank=True)
    exams = models.PositiveIntegerField(null=True, blank=True)
    needs_verification = models.BooleanField(default=False)
    verification_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["drl_set", "procedure__modality", "procedure__name", "quantity", "age_min_years", "id"]

    def __str__(self) -> str:
        return f"{self.procedure} {self.get_quantity_display()} {self.value:g} {self.unit}"
