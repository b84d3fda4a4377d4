"""Non-patient studies in the web UI: the rule page, the study's badge and buttons, the list's marker and filter."""

import html

import pytest
from django.urls import reverse

from rdsr.models import NonPatientRule, Study
from tests.web.factories import make_patient, make_study
from tests.web.factories import page_text as _page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def world():
    NonPatientRule.objects.all().delete()
    return {
        "phantom": make_study(
            accession_number="ACC-PH", patient=make_patient(patient_id="X1", name="Catphan^Phantom")
        ),
        "patient": make_study(
            accession_number="ACC-PT", patient=make_patient(patient_id="X2", name="Doe^Jane")
        ),
    }


def page_text(response) -> str:
    return html.unescape(_page_text(response))


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_staff_add_disable_enable_and_delete_a_rule_and_are_told_how_many_studies_changed(
    staff_client, world
):
    response = staff_client.post(
        reverse("non-patient-rules"),
        {"field": "patient_name", "pattern": "*phantom*", "note": "QA"},
        follow=True,
    )
    assert "Rule added: Patient name matches *phantom*. 1 study changed." in _messages(response)
    assert "1 study is marked not a patient" in page_text(response)
    rule = NonPatientRule.objects.get()
    assert Study.objects.get(pk=world["phantom"].pk).non_patient

    change = reverse("non-patient-rule-change", args=[rule.pk])
    response = staff_client.post(change, {"action": "disable"}, follow=True)
    assert "Rule disabled: Patient name matches *phantom*. 1 study changed." in _messages(response)
    assert "disabled" in page_text(response)
    assert not Study.objects.get(pk=world["phantom"].pk).non_patient
    staff_client.post(change, {"action": "enable"})
    response = staff_client.post(change, {"action": "delete"}, follow=True)
    assert "Rule deleted. 1 study changed." in _messages(response)
    assert not NonPatientRule.objects.exists()


def test_a_rule_that_matches_everything_is_refused_on_the_page(staff_client, world):
    response = staff_client.post(reverse("non-patient-rules"), {"field": "patient_id", "pattern": "*"})

    assert response.status_code == 200
    assert "matches everything" in page_text(response)
    assert not NonPatientRule.objects.exists()


def test_users_who_are_not_staff_see_the_rules_but_cannot_change_them(logged_in, world):
    rule = NonPatientRule.objects.create(field="patient_id", pattern="qa*")

    response = logged_in.get(reverse("non-patient-rules"))
    assert "qa*" in page_text(response) and "Only staff users can change the rules." in page_text(response)
    assert "Add a rule" not in page_text(response)
    assert (
        logged_in.post(reverse("non-patient-rules"), {"field": "patient_id", "pattern": "z*"}).status_code
        == 403
    )
    change = reverse("non-patient-rule-change", args=[rule.pk])
    assert logged_in.post(change, {"action": "delete"}).status_code == 403
    assert NonPatientRule.objects.count() == 1


def test_the_default_rules_are_listed(staff_client):
    text = page_text(staff_client.get(reverse("non-patient-rules")))

    assert "Patient name *phantom*" in text and "Patient ID qa*" in text and "(default)" in text


def test_a_study_shows_a_not_a_patient_badge_with_the_reason_and_can_be_unmarked_and_handed_back(
    logged_in, world
):
    NonPatientRule.objects.create(field="patient_name", pattern="*phantom*")
    Study.objects.filter(pk=world["phantom"].pk).update(
        non_patient=True, non_patient_reason="Patient name matches '*phantom*'"
    )
    detail = reverse("study-detail", args=[world["phantom"].pk])
    decide = reverse("study-non-patient", args=[world["phantom"].pk])

    text = page_text(logged_in.get(detail))
    assert "Not a patient (Patient name matches '*phantom*'): left out of every statistic." in text
    assert "Set by the non-patient rules" in text

    text = page_text(logged_in.post(decide, {"decision": "patient"}, follow=True))
    assert "Marked as a patient." in text
    assert (
        "A patient (marked a patient by mpe): decided by mpe; the non-patient rules no longer apply" in text
    )

    text = page_text(logged_in.post(decide, {"decision": "rules"}, follow=True))
    assert "Back to the non-patient rules: this study is not a patient." in text
    assert Study.objects.get(pk=world["phantom"].pk).non_patient_decided_by == ""


def test_a_user_marks_a_study_with_a_reason_and_the_page_says_who_decided(logged_in, world):
    decide = reverse("study-non-patient", args=[world["patient"].pk])

    response = logged_in.post(
        decide, {"decision": "non-patient", "reason": "CT phantom scanned as patient"}, follow=True
    )

    text = page_text(response)
    assert (
        "Not a patient (CT phantom scanned as patient): left out of every statistic. Decided by mpe." in text
    )
    assert logged_in.post(decide, {"decision": "maybe"}).status_code == 302
    assert logged_in.get(reverse("study-non-patient", args=[world["patient"].pk])).status_code == 405
    assert (
        logged_in.post(reverse("study-non-patient", args=[999999]), {"decision": "patient"}).status_code
        == 404
    )


def test_the_study_list_marks_non_patient_studies_and_filters_them(logged_in, world):
    Study.objects.filter(pk=world["phantom"].pk).update(non_patient=True, non_patient_reason="by hand")
    url = reverse("study-list")

    response = logged_in.get(url)
    assert "X1 not a patient" in page_text(response) and "X2 not a patient" not in page_text(response)

    def accessions(show):
        return sorted(r["study"].accession_number for r in logged_in.get(url, {"show": show}).context["rows"])

    assert accessions("") == ["ACC-PH", "ACC-PT"]
    assert accessions("patients") == ["ACC-PT"]
    assert accessions("non-patients") == ["ACC-PH"]
