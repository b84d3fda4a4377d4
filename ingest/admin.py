"""Admin for received objects: everything visible, nothing typed over; re-processing
goes through the service so the object is queued like any other."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model

from .models import ReceivedObject
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
