"""Dose records in the database: patient, device, study, events, plane totals.

Written only by `rdsr.services`; every dose column carries its canonical unit
in its name (DOMAIN.md §4).
"""

from django.db import models
from django.urls import reverse


class Patient(models.Model):
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer_of_patient_id"],
                condition=~models.Q(patient_id=""),
                name="patient_unique_id_per_issuer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id or '(no id)'} {self.name}".strip()



class PatientAlias(models.Model):
    """An identifier a patient was once known by (merged away by A40/A34, changed by A47).

    The DICOM store and the HL7 feed look identifiers up here too, so an object
    or message arriving late with the old ID lands on the surviving patient.
    """

    # The old Patient ID (named so it does not clash with the `patient` key's column).
    identifier = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="aliases")
    # "merge" or "change": how the identifier stopped being the patient's own.
    reason = models.CharField(max_length=10)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identifier", "issuer_of_patient_id"], name="patient_alias_unique_id_per_issuer"
            )
        ]
        verbose_name_plural = "patient aliases"

    def __str__(self) -> str:
        return f"{self.identifier} ({self.issuer_of_patient_id or 'no issuer'}) → patient {self.patient_id}"


class Device(models.Model):
    """One physical device (room/modality), whatever route its objects take."""

    # Device Observer UID when the object has one, else manufacturer|model|station|serial.
    identity_key = models.CharField(max_length=400, unique=True)
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    station_name = models.CharField(max_length=64, blank=True)
    serial_number = models.CharField(max_length=64, blank=True)
    software_versions = models.CharField(max_length=200, blank=True)
    institution_name = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=200, blank=True)
    device_observer_uid = models.CharField(max_length=64, blank=True, db_index=True)
    # What the MPE calls the room; shown instead of the technical names when set.
    display_name = models.CharField(max_length=100, blank=True)
    # Layout of this device's bitmap dose screens (a name from rdsr.ocr templates);
    # blank: try every template and keep the best-matching one.
    ocr_template = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        if self.display_name:
            return self.display_name
        parts = [self.station_name, self.manufacturer, self.model]
        return " · ".join(p for p in parts if p) or self.identity_key


class Study(models.Model):
    study_instance_uid = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="studies"
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.PROTECT, related_name="studies"
    )
    accession_number = models.CharField(max_length=64, blank=True, db_index=True)
    study_id = models.CharField(max_length=64, blank=True)
    study_date = models.DateField(null=True, blank=True, db_index=True)
    study_time = models.TimeField(null=True, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    requested_procedure = models.CharField(max_length=200, blank=True)
    procedure_reported = models.CharField(max_length=200, blank=True)
    modality = models.CharField(max_length=8, blank=True, db_index=True)
    # Patient at the time of the exam.
    age_years = models.FloatField(null=True, blank=True)
    weight_kg = models.FloatField(null=True, blank=True)
    height_m = models.FloatField(null=True, blank=True)
    # Where weight/height came from: "header", "csv" (upload by accession number),
    # "header+csv" (one from each: see rdsr.patient_size_services), "".
    patient_size_source = models.CharField(max_length=20, blank=True)
    # Not a patient (phantom, QA, test): kept out of every statistic. Set by the
    # NonPatientRule list unless a user decided (then non_patient_decided_by is
    # their username and rules no longer change it).
    non_patient = models.BooleanField(default=False, db_index=True)
    non_patient_reason = models.CharField(max_length=200, blank=True)
    non_patient_decided_by = models.CharField(max_length=150, blank=True)
    # Totals recomputed from the de-duplicated events (see rdsr.services).
    event_count = models.PositiveIntegerField(default=0)
    dlp_total_mgycm = models.FloatField(null=True, blank=True)
    dap_total_gycm2 = models.FloatField(null=True, blank=True)
    fluoro_time_total_s = models.FloatField(null=True, blank=True)
    agd_left_mgy = models.FloatField(null=True, blank=True)
    agd_right_mgy = models.FloatField(null=True, blank=True)
    # Totals as the most complete dose object of the best source kind states
    # them (see rdsr.services), kept to show disagreement with the recomputed ones.
    stated_totals = models.JSONField(default=dict, blank=True)
    # Kind of the best source in use (rdsr > image-header > mpps > ocr > manual).
    source_kind = models.CharField(max_length=20, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-study_date", "-study_time", "-id"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"{self.study_date or '?'} {self.modality} {self.study_description or self.study_instance_uid}"

    def get_absolute_url(self) -> str:
        return reverse("study-detail", args=[self.pk])


class PlaneAccumulation(models.Model):
    """Accumulated projection X-ray dose of one acquisition plane.

    Ka,r of two planes must never be added (DOMAIN.md §5.2), hence one row each.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="planes")
    plane = models.CharField(max_length=8)  # single | A | B
    dap_total_gycm2 = models.FloatField(null=True, blank=True)
    dose_rp_total_mgy = models.FloatField(null=True, blank=True)
    fluoro_dap_total_gycm2 = models.FloatField(null=True, blank=True)
    acquisition_dap_total_gycm2 = models.FloatField(null=True, blank=True)
    fluoro_dose_rp_total_mgy = models.FloatField(null=True, blank=True)
    acquisition_dose_rp_total_mgy = models.FloatField(null=True, blank=True)
    fluoro_time_total_s = models.FloatField(null=True, blank=True)
    acquisition_time_total_s = models.FloatField(null=True, blank=True)
    frames_total = models.PositiveIntegerField(null=True, blank=True)
    reference_point = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "plane"], name="plane_unique_per_study")]
        ordering = ["plane"]

    def __str__(self) -> str:
        return f"plane {self.plane}"


class DoseObject(models.Model):
    """One dose object (RDSR, image header, dose screen, MPPS) stored into a study.

    Provenance of the study, and what each object itself states: cumulative and
    continuation objects each state their own totals, which the store compares
    with the sum of the events the same object carried.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="dose_objects")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=20)
    # 113854 Source of Dose Information, e.g. "Automated Data Collection".
    dose_information_source = models.CharField(max_length=100, blank=True)
    content_datetime = models.CharField(max_length=32, blank=True)
    # Number of events the object carried (after removing repeats within it).
    event_count = models.PositiveIntegerField(default=0)
    # Totals as the object states them: ct_totals, planes, mammo_totals.
    stated_totals = models.JSONField(default=dict, blank=True)
    # The same quantities summed over the object's own events, for comparison.
    event_sums = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "sop_instance_uid"], name="dose_object_unique_per_study")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sop_instance_uid}"


class IrradiationEvent(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="events")
    # Null when the object gives none, such events are keyed on (source, position);
    # NULL rather than "" so the partial unique constraint below leaves them out.
    irradiation_event_uid = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    source_sop_instance_uid = models.CharField(max_length=64, db_index=True)
    source_kind = models.CharField(max_length=20)
    position = models.PositiveIntegerField(help_text="Order of the event in its source object")
    datetime_started = models.DateTimeField(null=True, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    protocol = models.CharField(max_length=200, blank=True)
    target_region = models.CharField(max_length=200, blank=True)
    plane = models.CharField(max_length=8, blank=True)
    comment = models.TextField(blank=True)
    # CT
    ctdivol_mgy = models.FloatField(null=True, blank=True)
    dlp_mgycm = models.FloatField(null=True, blank=True)
    phantom = models.CharField(max_length=8, blank=True)
    ssde_mgy = models.FloatField(null=True, blank=True)
    scanning_length_mm = models.FloatField(null=True, blank=True)
    pitch = models.FloatField(null=True, blank=True)
    kvp = models.FloatField(null=True, blank=True)
    tube_current_ma = models.FloatField(null=True, blank=True)
    max_tube_current_ma = models.FloatField(null=True, blank=True)
    exposure_time_s = models.FloatField(null=True, blank=True)
    exposure_time_per_rotation_s = models.FloatField(null=True, blank=True)
    single_collimation_mm = models.FloatField(null=True, blank=True)
    total_collimation_mm = models.FloatField(null=True, blank=True)
    # projection X-ray
    dap_gycm2 = models.FloatField(null=True, blank=True)
    dose_rp_mgy = models.FloatField(null=True, blank=True)
    agd_mgy = models.FloatField(null=True, blank=True)
    entrance_exposure_mgy = models.FloatField(null=True, blank=True)
    compression_thickness_mm = models.FloatField(null=True, blank=True)
    laterality = models.CharField(max_length=1, blank=True)
    view = models.CharField(max_length=100, blank=True)
    exposure_mas = models.FloatField(null=True, blank=True)
    pulse_rate = models.FloatField(null=True, blank=True)
    pulses = models.FloatField(null=True, blank=True)
    primary_angle_deg = models.FloatField(null=True, blank=True)
    secondary_angle_deg = models.FloatField(null=True, blank=True)
    source_to_detector_mm = models.FloatField(null=True, blank=True)
    exposure_index = models.FloatField(null=True, blank=True)
    target_exposure_index = models.FloatField(null=True, blank=True)
    deviation_index = models.FloatField(null=True, blank=True)
    # The rest of the record's event (second X-ray source, dose check, filters,
    # OCR confidence and review flags, ...), as the parser gave it.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["datetime_started", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "irradiation_event_uid"],
                condition=models.Q(irradiation_event_uid__isnull=False),
                name="event_unique_uid_per_study",
            ),
            models.UniqueConstraint(
                fields=["study", "source_sop_instance_uid", "position"],
                name="event_unique_position_per_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} {self.protocol}".strip()


class NonPatientRule(models.Model):
    """A pattern that marks studies as not of a patient (phantom, QA, test)."""

    FIELD_CHOICES = [("patient_id", "Patient ID"), ("patient_name", "Patient name"),
                     ("study_description", "Study description")]

    field = models.CharField(max_length=20, choices=FIELD_CHOICES)
    # Shell-style wildcard, case-insensitive: "*phantom*", "QA*", "TEST^*".
    pattern = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["field", "pattern"]
        constraints = [models.UniqueConstraint(fields=["field", "pattern"], name="non_patient_rule_unique")]

    def __str__(self) -> str:
        return f"{self.get_field_display()} matches {self.pattern}"
