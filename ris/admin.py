from django.contrib import admin

from rdsr.models import PatientAlias

from .models import Order, StudyReassignment


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["accession_number", "procedure_code", "procedure_text", "scheduled_at", "status", "patient"]
    list_filter = ["status", "modality"]
    search_fields = ["accession_number", "placer_number", "filler_number", "patient__patient_id", "procedure_code"]
    raw_id_fields = ["patient", "study", "last_message"]

    # Orders come from the RIS feed; the admin only shows them.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StudyReassignment)
class StudyReassignmentAdmin(admin.ModelAdmin):
    list_display = ["at", "study", "from_patient", "to_patient", "username", "reversed_by"]
    raw_id_fields = ["study", "from_patient", "to_patient", "from_order", "to_order", "reversed_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# Registered here: aliases are made by the RIS feed (merges, identifier changes).
@admin.register(PatientAlias)
class PatientAliasAdmin(admin.ModelAdmin):
    list_display = ["identifier", "issuer_of_patient_id", "patient", "reason", "created_at"]
    search_fields = ["identifier", "patient__patient_id"]
    raw_id_fields = ["patient"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
