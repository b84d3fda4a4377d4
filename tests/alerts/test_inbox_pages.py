"""The MPE's inbox: list with filters and counts, one alert, status changes, assignment, comments, bulk."""

import pytest
from django.urls import reverse

from alerts.models import Alert
from alerts.services import alerts_evaluate
from audit.models import AuditEvent
from tests.alerts.conftest import ct_study
from tests.web.factories import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(only_rules):
    only_rules("de-ct-other-ctdivol", "de-ct-brain-ctdivol")
    ct_study(name="CT chest", ctdivol=150.0, phantom="body32", protocol="Thorax spiral", weight_kg=88.0)
    ct_study(name="CT head", ctdivol=125.0)
    alerts_evaluate()
    return list(Alert.objects.order_by("rule__code"))  # brain, then other CT (the chest)


def test_it_needs_a_login(client):
    response = client.get(reverse("alert-inbox"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_inbox_lists_open_alerts_with_value_threshold_and_unit(logged_in, alerts):
    text = page_text(logged_in.get(reverse("alert-inbox")))
    assert "StrlSchV: other CT, CTDIvol &gt; 80 mGy" in text and "150 mGy" in text and "80 mGy" in text
    assert "2 open" in text


def test_every_page_header_shows_the_open_alert_count(logged_in, alerts):
    response = logged_in.get(reverse("study-list"))
    assert response.context["alerts_open_count"] == 2 and response.context["alerts_new_count"] == 2


def test_the_inbox_filters_by_rule_and_status(logged_in, alerts):
    rule = alerts[0].rule
    rows = logged_in.get(reverse("alert-inbox"), {"rule": rule.pk}).context["rows"]
    assert [r["alert"] for r in rows] == [alerts[0]]
    assert logged_in.get(reverse("alert-inbox"), {"status": "justified"}).context["rows"] == []


def test_an_alert_page_shows_its_context(logged_in, alerts):
    text = page_text(logged_in.get(reverse("alert-detail", args=[alerts[1].pk])))
    assert "Thorax spiral" in text and "88 kg" in text and "Series 1" in text and "StrlSchV" in text


def test_a_staff_user_justifies_an_alert_with_a_code_and_it_is_audited(client, staff, alerts):
    client.force_login(staff)
    url = reverse("alert-transition", args=[alerts[0].pk])
    client.post(url, {"status": "justified", "justification": "", "comment": ""})
    assert Alert.objects.get(pk=alerts[0].pk).status == "new"  # a code is needed
    client.post(url, {"status": "justified", "justification": "clinical", "comment": "trauma"})
    alert = Alert.objects.get(pk=alerts[0].pk)
    assert alert.status == "justified" and alert.justification == "clinical"
    note = alert.notes.get()
    assert (note.old_status, note.new_status, note.text, note.username) == ("new", "justified", "trauma", "boss")
    event = AuditEvent.objects.filter(object_type="alert", object_id=str(alert.pk), action="change").get()
    assert event.username == "boss" and "new → justified" in event.summary


def test_a_closed_alert_cannot_be_reported(client, staff, alerts):
    client.force_login(staff)
    client.post(reverse("alert-transition", args=[alerts[0].pk]), {"status": "closed"})
    response = client.post(reverse("alert-transition", args=[alerts[0].pk]), {"status": "reported"}, follow=True)
    assert "cannot become reported to authority" in page_text(response)
    assert Alert.objects.get(pk=alerts[0].pk).status == "closed"


def test_assignment_and_comments_are_kept_and_audited(client, staff, alerts):
    client.force_login(staff)
    client.post(reverse("alert-assign", args=[alerts[0].pk]), {"assignee": staff.pk})
    client.post(reverse("alert-comment", args=[alerts[0].pk]), {"text": "asked the radiographer"})
    alert = Alert.objects.get(pk=alerts[0].pk)
    assert alert.assigned_to == staff
    assert [n.text for n in alert.notes.all()] == ["assigned to boss", "asked the radiographer"]
    assert AuditEvent.objects.filter(object_type="alert", object_id=str(alert.pk), action="change").count() == 2


def test_bulk_actions_change_every_chosen_alert(client, staff, alerts):
    client.force_login(staff)
    client.post(reverse("alert-bulk"), {"alert": [a.pk for a in alerts], "action": "acknowledged"})
    assert set(Alert.objects.values_list("status", flat=True)) == {"acknowledged"}
    response = client.post(reverse("alert-bulk"), {"alert": [a.pk for a in alerts], "action": "reported"},
                           follow=True)
    assert "cannot become reported" in page_text(response)
    assert response.context["alerts_open_count"] == 2
    client.post(reverse("alert-bulk"), {"alert": [alerts[1].pk], "action": "justified", "justification": "clinical"})
    assert Alert.objects.get(pk=alerts[1].pk).status == "justified"
    assert logged_counts(client) == 1


def logged_counts(client) -> int:
    return client.get(reverse("alert-inbox")).context["alerts_open_count"]


def test_users_who_are_not_staff_cannot_change_alerts(logged_in, alerts):
    response = logged_in.post(reverse("alert-transition", args=[alerts[0].pk]), {"status": "acknowledged"})
    assert response.status_code == 403
    assert logged_in.post(reverse("alert-bulk"), {"alert": [alerts[0].pk], "action": "closed"}).status_code == 403
    assert Alert.objects.get(pk=alerts[0].pk).status == "new"


def test_the_rules_page_lists_the_shipped_rules_with_their_sources(logged_in):
    text = page_text(logged_in.get(reverse("alert-rules")))
    assert "NCRP 168: Ka,r &gt; 5 Gy" in text and "NCRP Report No. 168" in text and "StrlSchV §108" in text
