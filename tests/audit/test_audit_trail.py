"""The audit trail: appended by services and views, read by staff, never edited."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.selectors import audit_event_list
from audit.services import audit_record
from tests.web.factories import page_text


@pytest.mark.django_db
def test_it_records_the_user_and_address_of_a_request(user):
    request = RequestFactory().get("/studies/1/", REMOTE_ADDR="10.1.2.3")
    request.user = user
    event = audit_record(action="view", object_type="study", object_id=1, summary="study 1", request=request,
                         patient_pk=7)
    assert (event.username, event.remote_address, event.patient_pk) == (user.username, "10.1.2.3", 7)


@pytest.mark.django_db
def test_it_records_work_without_a_user_under_its_source():
    event = audit_record(action="merge", object_type="patient", object_id=3, summary="A40 merge",
                         source="hl7", details={"prior": "OLD1"})
    assert (event.username, event.source, event.details) == ("", "hl7", {"prior": "OLD1"})


@pytest.mark.django_db
def test_it_rejects_an_unknown_action():
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_record(action="peek", object_type="study", summary="x")


@pytest.mark.django_db
def test_it_finds_who_saw_one_patient():
    audit_record(action="view", object_type="study", object_id=1, summary="a", patient_pk=1, source="t")
    audit_record(action="view", object_type="study", object_id=2, summary="b", patient_pk=2, source="t")
    assert [e.summary for e in audit_event_list(patient_pk=2)] == ["b"]


@pytest.mark.django_db
def test_the_trail_page_is_for_staff_only(client, user, staff):
    audit_record(action="change", object_type="study", object_id=5, summary="marked as not a patient",
                 source="test")
    client.force_login(user)
    assert client.get("/audit/").status_code == 302  # to the admin login: not staff
    client.force_login(staff)
    response = client.get("/audit/?action=change")
    assert response.status_code == 200
    assert "marked as not a patient" in page_text(response)


@pytest.mark.django_db
def test_the_trail_cannot_be_edited_in_the_admin(client, staff):
    event = audit_record(action="view", object_type="study", summary="seen", source="test")
    client.force_login(staff)
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.count() == 1
