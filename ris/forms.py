"""Forms of the reconciliation pages: what the MPE chose, checked before a service is called."""

from __future__ import annotations

from django import forms

from rdsr.models import Patient

from .models import Order

REASON_REQUIRED = "Give a reason for the reassignment: it is kept in the audit trail."
TARGET_REQUIRED = "Choose the patient the study belongs to, or an order (its patient is then taken)."


class ReassignForm(forms.Form):
    # Radio buttons of the search results post the chosen primary keys.
    patient = forms.ModelChoiceField(queryset=Patient.objects.all(), required=False)
    order = forms.ModelChoiceField(queryset=Order.objects.select_related("patient"), required=False)
    reason = forms.CharField(
        max_length=1000, strip=True, error_messages={"required": REASON_REQUIRED},
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. polytrauma: entered at the modality as unknown"}),
    )

    def clean(self):
        data = super().clean()
        if not self.errors and data.get("patient") is None and data.get("order") is None:
            raise forms.ValidationError(TARGET_REQUIRED)
        return data


class ReverseForm(forms.Form):
    reason = forms.CharField(
        max_length=1000, strip=True,
        error_messages={"required": "Give a reason for the reversal: it is kept in the audit trail."},
    )
