"""Admin for dose records. Values that come from objects are read-only: a dose
is corrected by re-processing its object, never by typing over it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Model

from .models import Device, DoseObject, IrradiationEvent, NonPatientRule, Patient, PlaneAccumulation, Study
from .non_patient import pattern_problem
from .non_patient_services import non_patient_rules_apply


def _all_fields(model: type[Model]) -> list[str]:
    return [f.name for f in model._meta.get_fields() if f.concrete and not f.auto_created]


class FromObjectsAdmin(admin.ModelAdmin):
    """Shows everything, adds nothing, edits only `editable_fields`."""

    editable_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return [name for name in _all_fields(self.model) if name not in self.editable_fields]

    def has_add_permission(self, request):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return list(self.fields or _all_fields(self.model))

    def has_add_permission(self, request, obj=None):
        return False


class PlaneInline(ReadOnlyInline):
    model = PlaneAccumulation
    fields = [
        "plane",
        "dap_total_gycm2",
        "dose_rp_total_mgy",
        "fluoro_dap_total_gycm2",
        "acquisition_dap_total_gycm2",
        "fluoro_time_total_s",
        "frames_total",
    ]
    show_change_link = False


class DoseObjectInline(ReadOnlyInline):
    model = DoseObject
    fields = ["sop_instance_uid", "kind", "dose_information_source", "event_count", "created_at"]


class EventInline(ReadOnlyInline):
    model = IrradiationEvent
    fields = [
        "position",
        "datetime_started",
        "event_type",
        "protocol",
        "plane",
        "ctdivol_mgy",
        "dlp_mgycm",
        "dap_gycm2",
        "dose_rp_mgy",
        "agd_mgy",
        "source_kind",
    ]


@admin.register(Patient)
class PatientAdmin(FromObjectsAdmin):
    list_display = ["patient_id", "issuer_of_patient_id", "name", "birth_date", "sex", "created_at"]
    list_filter = ["sex"]
    search_fields = ["patient_id", "name"]
    date_hierarchy = "created_at"


@admin.register(Device)
class DeviceAdmin(FromObjectsAdmin):
    # The room name is the one thing the MPE sets by hand.
    editable_fields = ("display_name",)
    list_display = [
        "__str__",
        "display_name",
        "manufacturer",
        "model",
        "station_name",
        "serial_number",
        "institution_name",
    ]
    list_filter = ["manufacturer", "institution_name"]
    search_fields = [
        "display_name",
        "manufacturer",
        "model",
        "station_name",
        "serial_number",
        "device_observer_uid",
    ]
    fieldsets = [
        (None, {"fields": ["display_name"]}),
        (
            "From the objects",
            {
                "fields": [
                    "manufacturer",
                    "model",
                    "station_name",
                    "serial_number",
                    "software_versions",
                    "institution_name",
                    "department",
                    "device_observer_uid",
                    "identity_key",
                    "created_at",
                ]
            },
        ),
    ]


@admin.register(Study)
class StudyAdmin(FromObjectsAdmin):
    list_display = [
        "study_date",
        "study_time",
        "modality",
        "device",
        "accession_number",
        "study_description",
        "patient",
        "event_count",
        "dlp_total_mgycm",
        "dap_total_gycm2",
        "source_kind",
    ]
    list_filter = ["modality", "source_kind", "device"]
    list_select_related = ["patient", "device"]
    search_fields = ["study_instance_uid", "accession_number", "study_description", "patient__patient_id"]
    date_hierarchy = "study_date"
    inlines = [DoseObjectInline, PlaneInline, EventInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "study_instance_uid",
                    "patient",
                    "device",
                    "accession_number",
                    "study_id",
                    "study_date",
                    "study_time",
                    "study_description",
                    "requested_procedure",
                    "procedure_reported",
                    "modality",
                    "source_kind",
                ]
            },
        ),
        ("Patient at the exam", {"fields": ["age_years", "weight_kg", "height_m"]}),
        (
            "Totals (recomputed from events)",
            {
                "fields": [
                    "event_count",
                    "dlp_total_mgycm",
                    "dap_total_gycm2",
                    "fluoro_time_total_s",
                    "agd_left_mgy",
                    "agd_right_mgy",
                    "stated_totals",
                    "warnings",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(PlaneAccumulation)
class PlaneAccumulationAdmin(FromObjectsAdmin):
    list_display = [
        "study",
        "plane",
        "dap_total_gycm2",
        "dose_rp_total_mgy",
        "fluoro_time_total_s",
        "frames_total",
    ]
    list_filter = ["plane"]
    list_select_related = ["study"]
    search_fields = ["study__study_instance_uid", "study__accession_number"]


@admin.register(IrradiationEvent)
class IrradiationEventAdmin(FromObjectsAdmin):
    list_display = [
        "study",
        "position",
        "datetime_started",
        "event_type",
        "protocol",
        "plane",
        "ctdivol_mgy",
        "dlp_mgycm",
        "dap_gycm2",
        "dose_rp_mgy",
        "source_kind",
    ]
    list_filter = ["source_kind", "event_type", "plane", "phantom"]
    list_select_related = ["study"]
    search_fields = [
        "irradiation_event_uid",
        "source_sop_instance_uid",
        "protocol",
        "study__accession_number",
    ]


@admin.register(DoseObject)
class DoseObjectAdmin(FromObjectsAdmin):
    list_display = [
        "sop_instance_uid",
        "kind",
        "dose_information_source",
        "event_count",
        "study",
        "created_at",
    ]
    list_filter = ["kind", "dose_information_source"]
    list_select_related = ["study"]
    search_fields = ["sop_instance_uid", "study__study_instance_uid", "study__accession_number"]


class NonPatientRuleForm(forms.ModelForm):
    class Meta:
        model = NonPatientRule
        fields = ["field", "pattern", "active", "note"]

    def clean(self):
        data = super().clean()
        problem = pattern_problem(field=data.get("field", ""), pattern=data.get("pattern") or "")
        if problem:
            self.add_error("pattern", problem)
        return data


@admin.register(NonPatientRule)
class NonPatientRuleAdmin(admin.ModelAdmin):
    """Rules are set by people; every change re-applies them, as on the "Non-patient rules" page."""

    form = NonPatientRuleForm

    list_display = ["field", "pattern", "active", "note", "created_by", "created_at"]
    list_filter = ["field", "active"]
    search_fields = ["pattern", "note"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        self._apply(request)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._apply(request)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self._apply(request)

    def _apply(self, request) -> None:
        changed = non_patient_rules_apply()
        self.message_user(
            request, f"Non-patient rules re-applied: {changed} stud{'y' if changed == 1 else 'ies'} changed."
        )
