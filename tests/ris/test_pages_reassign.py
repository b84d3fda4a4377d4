"""Reassigning a study to its right patient and order from the web, and reversing it."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from ris.forms import REASON_REQUIRED, TARGET_REQUIRED
from ris.models import Order, StudyReassignment
from tests.ris.hl7_messages import adt, apply, dose_study, orm
from tests.web.factories import page_text

pytestmark = pytest.mark.django_db

REASON = "polytrauma: entered at the modality as unknown"


@pytest.fixture
def trauma():
    """The polytrauma case: the right patient's order, and the study done under an emergency ID."""
    apply(orm("NW", "RIGHT-1", accession="T1", text="CT Polytrauma"))
    order = Order.objects.get(accession_number="T1")
    study = dose_study(study_uid="1.2.9.70", patient_id="TRAUMA-1", accession="")
    return {"order": order, "study": study, "wrong": study.patient}


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _url(study):
    return reverse("study-reassign", args=[study.pk])


def test_staff_find_the_patient_and_order_then_see_what_will_move(staff_client, trauma):
    search = page_text(staff_client.get(_url(trauma["study"]), {"patient_q": "RIGHT", "order_q": "T1"}))
    assert "RIGHT-1" in search and "Doe, Jane" in search and "CT Polytrauma" in search

    confirm = staff_client.post(_url(trauma["study"]), {"order": trauma["order"].pk, "patient": "", "reason": REASON})
    text = page_text(confirm)
    assert "Confirm the reassignment" in text
    assert "Patient ID TRAUMA-1 RIGHT-1" in text and "Order none T1 CT Polytrauma" in text and REASON in text
    # Nothing moved yet.
    trauma["study"].refresh_from_db()
    assert trauma["study"].patient == trauma["wrong"]


def test_a_confirmed_reassignment_moves_the_study_and_shows_in_the_audit_trail(staff_client, trauma):
    study = trauma["study"]
    response = staff_client.post(
        _url(study), {"order": trauma["order"].pk, "patient": "", "reason": REASON, "confirmed": "yes"}
    )
    assert response.status_code == 302 and response["Location"] == study.get_absolute_url()

    page = staff_client.get(study.get_absolute_url())
    assert "The study was reassigned" in page_text(page)
    assert "RIGHT-1" in page_text(page)
    assert Order.objects.get(pk=trauma["order"].pk).study_id == study.pk

    audit = page_text(staff_client.get(reverse("audit-list"), {"action": "reassign"}))
    assert "reassigned from patient TRAUMA-1 to RIGHT-1" in audit and "boss" in audit
    assert "TRAUMA-1" not in page_text(staff_client.get(reverse("reconciliation"), {"tab": "studies"}))


def test_a_reassignment_can_be_reversed_with_a_reason(staff_client, trauma):
    study = trauma["study"]
    staff_client.post(_url(study), {"order": trauma["order"].pk, "reason": REASON, "confirmed": "yes"})
    done = StudyReassignment.objects.get(study=study)
    assert "Reverse" in page_text(staff_client.get(_url(study)))

    response = staff_client.post(reverse("study-reassignment-reverse", args=[done.pk]), {"reason": "wrong order"})
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.patient == trauma["wrong"]
    assert Order.objects.get(pk=trauma["order"].pk).study is None
    assert StudyReassignment.objects.get(pk=done.pk).reversed_by.reason == "wrong order"
    assert AuditEvent.objects.filter(action="reassign", details__reason="wrong order").exists()
    # The reversal is not offered again.
    assert "Reverse" not in page_text(staff_client.get(_url(study)))


def test_a_reversal_without_a_reason_is_refused(staff_client, trauma):
    study = trauma["study"]
    staff_client.post(_url(study), {"order": trauma["order"].pk, "reason": REASON, "confirmed": "yes"})
    done = StudyReassignment.objects.get(study=study)
    response = staff_client.post(reverse("study-reassignment-reverse", args=[done.pk]), {"reason": " "}, follow=True)
    assert "Give a reason for the reversal" in page_text(response)
    assert StudyReassignment.objects.get(pk=done.pk).reversed_by is None


def test_only_the_last_reassignment_can_be_reversed(staff_client, trauma):
    study = trauma["study"]
    staff_client.post(_url(study), {"order": trauma["order"].pk, "reason": REASON, "confirmed": "yes"})
    staff_client.post(_url(study), {"patient": trauma["wrong"].pk, "reason": "back", "confirmed": "yes"})
    first = StudyReassignment.objects.filter(study=study).order_by("id").first()
    response = staff_client.post(reverse("study-reassignment-reverse", args=[first.pk]), {"reason": "x"}, follow=True)
    assert "Only the last reassignment" in page_text(response)
    assert StudyReassignment.objects.get(pk=first.pk).reversed_by is None


def test_a_reassignment_without_a_reason_is_refused_with_a_clear_message(staff_client, trauma):
    response = staff_client.post(
        _url(trauma["study"]), {"order": trauma["order"].pk, "reason": "  ", "confirmed": "yes"}
    )
    assert response.status_code == 200
    assert REASON_REQUIRED in page_text(response)
    assert not StudyReassignment.objects.exists()


def test_a_reassignment_needs_a_patient_or_an_order(staff_client, trauma):
    response = staff_client.post(_url(trauma["study"]), {"patient": "", "order": "", "reason": REASON})
    assert TARGET_REQUIRED in page_text(response)


def test_a_patient_is_found_by_name_and_by_a_former_id(staff_client, trauma):
    apply(adt("A01", "NEW-9", name="Mustermann^Max"))
    apply(adt("A47", "NEWER-9", prior="NEW-9", name="Mustermann^Max"))
    assert "Mustermann, Max" in page_text(staff_client.get(_url(trauma["study"]), {"patient_q": "mustermann max"}))
    assert "Mustermann, Max" in page_text(staff_client.get(_url(trauma["study"]), {"patient_q": "NEW-9"}))


def test_viewing_the_reassign_page_is_audited_for_the_studys_patient(staff_client, trauma):
    staff_client.get(_url(trauma["study"]))
    assert AuditEvent.objects.filter(action="view", object_type="study", patient_pk=trauma["wrong"].pk).count() == 1


def test_a_user_who_is_not_staff_cannot_reassign(logged_in, trauma):
    study = trauma["study"]
    assert logged_in.get(_url(study)).status_code == 403
    response = logged_in.post(_url(study), {"order": trauma["order"].pk, "reason": REASON, "confirmed": "yes"})
    assert response.status_code == 403
    study.refresh_from_db()
    assert study.patient == trauma["wrong"]


def test_a_user_who_is_not_staff_cannot_reverse(client, user, staff, trauma):
    client.force_login(staff)
    client.post(_url(trauma["study"]), {"order": trauma["order"].pk, "reason": REASON, "confirmed": "yes"})
    done = StudyReassignment.objects.get()
    client.force_login(user)
    assert client.post(reverse("study-reassignment-reverse", args=[done.pk]), {"reason": "x"}).status_code == 403
    assert StudyReassignment.objects.get(pk=done.pk).reversed_by is None


def test_reassigning_needs_a_login(client, trauma):
    response = client.get(_url(trauma["study"]))
    assert response.status_code == 302 and reverse("login") in response["Location"]
