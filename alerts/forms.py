"""Forms of the inbox: filters, one alert's actions, bulk actions."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from drl.models import MODALITY_CHOICES, StandardProcedure
from rdsr.models import Device

from .models import Alert, AlertRule

STATUS_FILTER = [("open", "Open"), ("all", "All"), *Alert.Status.choices]
ACTIONS = [(s, label) for s, label in Alert.Status.choices if s != Alert.Status.NEW] + [("assign", "Assign")]


def _users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class FilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_FILTER, required=False)
    rule = forms.ModelChoiceField(AlertRule.objects.order_by("name"), required=False, empty_label="All rules")
    kind = forms.ChoiceField(choices=[("", "All kinds"), *AlertRule.Kind.choices], required=False)
    device = forms.ModelChoiceField(Device.objects.order_by("display_name", "station_name"), required=False,
                                    empty_label="All rooms", label="Room")
    procedure = forms.ModelChoiceField(StandardProcedure.objects.order_by("modality", "name"), required=False,
                                       empty_label="All procedures")
    modality = forms.ChoiceField(choices=[("", "All modalities"), *MODALITY_CHOICES], required=False)
    assigned_to = forms.ModelChoiceField(_users(), required=False, empty_label="Anyone", label="Assigned to")
    date_from = forms.DateField(required=False, label="Exams from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))


class TransitionForm(forms.Form):
    status = forms.ChoiceField(choices=Alert.Status.choices)
    justification = forms.ChoiceField(choices=[("", "—"), *Alert.Justification.choices], required=False)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(_users(), required=False, empty_label="Nobody")


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, label="Comment")


class BulkForm(forms.Form):
    alert = forms.ModelMultipleChoiceField(Alert.objects.all(), label="Alerts")
    action = forms.ChoiceField(choices=ACTIONS)
    justification = forms.ChoiceField(choices=[("", "—"), *Alert.Justification.choices], required=False)
    assignee = forms.ModelChoiceField(_users(), required=False, empty_label="Nobody")
    comment = forms.CharField(required=False, max_length=2000)
