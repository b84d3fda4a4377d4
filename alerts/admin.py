"""Admin of the alerts app: rules and recipients are edited here (audited); alerts are changed in the inbox."""

from __future__ import annotations

from django.contrib import admin

from audit.services import audit_record

from .models import Alert, AlertNote, AlertRecipient, AlertRule, DigestRun, StudyEvaluation


class _Audited(admin.ModelAdmin):
    """Every change made here goes to the audit trail too."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action="change" if change else "create", object_type=obj._meta.model_name, object_id=obj.pk,
            summary=f"{obj._meta.verbose_name} {obj}: {', '.join(form.changed_data) or 'saved'}"[:300],
            details={"fields": form.changed_data}, request=request,
        )

    def delete_model(self, request, obj):
        audit_record(action="delete", object_type=obj._meta.model_name, object_id=obj.pk,
                     summary=f"{obj._meta.verbose_name} {obj} deleted"[:300], request=request)
        super().delete_model(request, obj)


@admin.register(AlertRule)
class AlertRuleAdmin(_Audited):
    list_display = ("name", "kind", "quantity", "threshold", "modalities", "urgent", "active")
    list_filter = ("kind", "urgent", "active")
    search_fields = ("name", "code", "source")


@admin.register(AlertRecipient)
class AlertRecipientAdmin(_Audited):
    list_display = ("email", "name", "rule", "device", "urgent", "digest", "active")
    list_filter = ("urgent", "digest", "active")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Read-only: the inbox changes alerts, with their history and audit trail."""

    list_display = ("id", "rule", "status", "exam_date", "device", "value", "threshold", "unit")
    list_filter = ("status", "rule__kind")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AlertNote)
class AlertNoteAdmin(admin.ModelAdmin):
    list_display = ("alert", "at", "username", "old_status", "new_status")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StudyEvaluation)
class StudyEvaluationAdmin(admin.ModelAdmin):
    list_display = ("study", "study_updated_at", "evaluated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DigestRun)
class DigestRunAdmin(admin.ModelAdmin):
    list_display = ("day", "sent_at", "recipients", "exceedances", "open_alerts", "skipped")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
