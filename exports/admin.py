from django.contrib import admin

from .models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "username", "kind", "format", "template_id", "template_version",
                    "status", "rows_written", "rows_total"]
    list_filter = ["status", "kind", "format"]
    search_fields = ["username", "template_id"]
    # Jobs are written by the export service only; the admin shows them.
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
