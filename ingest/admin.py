"""Admin for received objects: everything visible, nothing typed over; re-processing
goes through the service so the object is queued like any other."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model

from .models import Hl7Message, MppsMessage, MppsStep, ReceivedObject
from .mpps import mpps_step_reprocess
from .services import received_object_reprocess
from .views import sop_class_name


def _all_fields(model: type[Model]) -> list[str]:
    return [f.name for f in model._meta.get_fields() if f.concrete and not f.auto_created]


@admin.register(ReceivedObject)
class ReceivedObjectAdmin(admin.ModelAdmin):
    list_display = [
        "sop_instance_uid",
        "sop_class",
        "status",
        "kind",
        "calling_ae",
        "origin",
        "received_at",
        "attempts",
        "study",
    ]
    list_filter = ["status", "kind", "origin", "calling_ae"]
    list_select_related = ["study"]
    search_fields = ["sop_instance_uid", "sop_class_uid", "calling_ae", "error", "study__study_instance_uid"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]

    def get_readonly_fields(self, request, obj=None):
        return [*_all_fields(self.model), "sop_class"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="SOP class")
    def sop_class(self, obj: ReceivedObject) -> str:
        return sop_class_name(obj.sop_class_uid)

    @admin.action(description="Re-process the selected objects")
    def reprocess(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            received_object_reprocess(received_object_id=pk)
        self.message_user(
            request, f"{len(ids)} object(s) put back in the processing queue.", messages.SUCCESS
        )


class MppsMessageInline(admin.TabularInline):
    model = MppsMessage
    extra = 0
    can_delete = False
    fields = ["sequence", "action", "performed_status", "answered_status", "received_at", "calling_ae", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MppsStep)
class MppsStepAdmin(admin.ModelAdmin):
    list_display = [
        "sop_instance_uid",
        "performed_status",
        "status",
        "modality",
        "calling_ae",
        "received_at",
        "message_count",
        "study",
    ]
    list_filter = ["status", "performed_status", "modality", "calling_ae"]
    list_select_related = ["study"]
    search_fields = ["sop_instance_uid", "study_instance_uid", "calling_ae", "error"]
    date_hierarchy = "received_at"
    inlines = [MppsMessageInline]
    actions = ["reprocess"]

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(self.model)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-process the selected MPPS steps")
    def reprocess(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            mpps_step_reprocess(step_id=pk)
        self.message_user(request, f"{len(ids)} MPPS step(s) put back in the processing queue.", messages.SUCCESS)


@admin.register(MppsMessage)
class MppsMessageAdmin(admin.ModelAdmin):
    list_display = ["step", "sequence", "action", "performed_status", "answered_status", "received_at"]
    list_filter = ["action", "answered_status"]
    list_select_related = ["step"]
    search_fields = ["step__sop_instance_uid", "spool_path", "error"]

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(self.model)

    def has_add_permission(self, request):
        return False


@admin.register(Hl7Message)
class Hl7MessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "message_type", "control_id", "sending_application", "status", "ack_code"]
    list_filter = ["status", "ack_code", "message_type"]
    search_fields = ["control_id", "sending_application", "sending_facility"]
    readonly_fields = [f.name for f in Hl7Message._meta.fields if f.name != "raw"] + ["text"]
    exclude = ["raw"]

    @admin.display(description="message")
    def text(self, obj: Hl7Message) -> str:
        return bytes(obj.raw).decode("latin-1").replace("\r", "\n")

    def has_add_permission(self, request) -> bool:
        return False
