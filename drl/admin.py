"""Admin for the drl app: the catalogue and DRL sets are editable here too; mappings are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from .models import (
    QUANTITIES,
    DrlSet,
    DrlValue,
    EventMapping,
    MappingChange,
    MappingRule,
    StandardProcedure,
    StudyMapping,
)


@admin.register(StandardProcedure)
class StandardProcedureAdmin(admin.ModelAdmin):
    list_display = ("name", "modality", "body_region", "radlex_playbook_id", "active")
    list_filter = ("modality", "active")
    search_fields = ("name", "body_region", "radlex_playbook_id")


@admin.register(MappingRule)
class MappingRuleAdmin(admin.ModelAdmin):
    """Read-only: rules are changed on the rules page, which re-evaluates the mappings."""

    list_display = ("id", "level", "priority", "procedure", "modality", "active", "created_by")
    list_filter = ("level", "active")
    search_fields = ("procedure__name", "note")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StudyMapping)
class StudyMappingAdmin(_ReadOnly):
    list_display = ("study", "procedure", "source", "modality", "name")
    list_filter = ("source", "modality")
    search_fields = ("name", "procedure__name")
    raw_id_fields = ("study",)


@admin.register(EventMapping)
class EventMappingAdmin(_ReadOnly):
    list_display = ("event", "procedure", "source", "name")
    list_filter = ("source",)
    search_fields = ("name", "procedure__name")
    raw_id_fields = ("event", "study")


@admin.register(MappingChange)
class MappingChangeAdmin(_ReadOnly):
    list_display = ("at", "study", "event", "old_name", "new_name", "reason", "username")
    search_fields = ("old_name", "new_name", "reason", "username")
    raw_id_fields = ("study", "event")


class DrlValueForm(forms.ModelForm):
    """A DRL value is in the canonical unit of its quantity (DOMAIN.md §4): convert before typing it in."""

    class Meta:
        model = DrlValue
        fields = [f.name for f in DrlValue._meta.fields if f.editable and not f.primary_key]

    def clean(self):
        data = super().clean()
        quantity = data.get("quantity")
        if quantity in QUANTITIES and data.get("unit") != QUANTITIES[quantity][1]:
            self.add_error("unit", f"{QUANTITIES[quantity][0]} is stored in {QUANTITIES[quantity][1]}")
        return data


class DrlValueInline(admin.TabularInline):
    model = DrlValue
    form = DrlValueForm
    extra = 0
    fields = (
        "procedure",
        "quantity",
        "unit",
        "level",
        "patient_group",
        "age_min_years",
        "age_max_years",
        "weight_min_kg",
        "weight_max_kg",
        "phantom",
        "thickness_min_mm",
        "thickness_max_mm",
        "value",
        "typical_value",
        "published_as",
        "needs_verification",
        "verification_note",
    )


@admin.register(DrlSet)
class DrlSetAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "jurisdiction", "version", "valid_from", "valid_to", "active")
    list_filter = ("kind", "active")
    search_fields = ("name", "jurisdiction", "source")
    inlines = [DrlValueInline]


@admin.register(DrlValue)
class DrlValueAdmin(admin.ModelAdmin):
    form = DrlValueForm
    list_display = ("drl_set", "procedure", "quantity", "value", "unit", "level", "needs_verification")
    list_filter = ("quantity", "needs_verification", "drl_set")
    search_fields = ("procedure__name", "drl_set__name")
