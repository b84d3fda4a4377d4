"""The drl pages through Django's test client: everyone reads, staff changes."""

import datetime

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from drl.models import DrlSet, MappingRule, StandardProcedure
from drl.selectors import study_procedure
from drl.services import mapping_refresh
from tests.web.factories import make_study, page_text

pytestmark = pytest.mark.django_db

PAGES = ["drl-procedures", "drl-rules", "drl-rule-add", "drl-inbox", "drl-history", "drl-sets", "drl-compute"]


def _rule_post(procedure, **extra):
    data = {
        "level": "study",
        "priority": 100,
        "procedure": procedure.pk,
        "modality": "",
        "device": "",
        "active": "on",
        "note": "",
        "field_0": "study_description",
        "test_0": "contains",
        "value_0": "thorax",
    }
    return data | extra


def test_every_page_needs_a_login(client):
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response.url, name


def test_every_page_shows_to_a_logged_in_user(logged_in):
    for name in PAGES:
        assert logged_in.get(reverse(name)).status_code == 200, name


def test_a_user_who_is_not_staff_cannot_change_rules(logged_in, procedure):
    response = logged_in.post(reverse("drl-rule-add"), _rule_post(procedure("CT chest")))
    assert response.status_code == 403
    assert not MappingRule.objects.exists()


def test_staff_previews_then_saves_a_rule(client, staff, procedure):
    client.force_login(staff)
    study = make_study(study_description="CT Thorax")
    mapping_refresh()
    preview = client.post(reverse("drl-rule-add"), _rule_post(procedure("CT chest"), action="preview"))
    assert "1 study and 0 CT events would change" in page_text(preview)
    assert not MappingRule.objects.exists()
    saved = client.post(
        reverse("drl-rule-add"), _rule_post(procedure("CT chest"), action="save"), follow=True
    )
    assert "1 study and 0 CT events remapped" in page_text(saved)
    assert study_procedure(study) == procedure("CT chest")
    assert AuditEvent.objects.filter(object_type="mapping rule", action="create").exists()


def test_an_invalid_regex_is_shown_on_the_form(client, staff, procedure):
    client.force_login(staff)
    response = client.post(
        reverse("drl-rule-add"),
        _rule_post(procedure("CT chest"), test_0="regex", value_0="(thorax", action="save"),
    )
    assert response.status_code == 200
    assert "invalid regular expression" in page_text(response)


def test_staff_deletes_a_rule_after_seeing_what_changes(client, staff, procedure):
    client.force_login(staff)
    make_study(study_description="CT Thorax")
    client.post(reverse("drl-rule-add"), _rule_post(procedure("CT chest"), action="save"))
    rule = MappingRule.objects.get()
    confirm = client.get(reverse("drl-rule-delete", args=[rule.pk]))
    assert "1 study and 0 CT events would change" in page_text(confirm)
    client.post(reverse("drl-rule-delete", args=[rule.pk]))
    assert not MappingRule.objects.exists()


def test_the_inbox_lists_names_by_volume_and_maps_the_chosen_ones(client, staff, procedure):
    client.force_login(staff)
    for _ in range(2):
        make_study(study_description="Thorax pa", modality="DX")
    make_study(study_description="Knie", modality="DX")
    mapping_refresh()
    text = page_text(client.get(reverse("drl-inbox")))
    assert text.index("Thorax pa") < text.index("Knie")
    client.post(
        reverse("drl-inbox"),
        {"level": "study", "name": ["DX|study_description|Thorax pa"], "procedure": procedure("Chest PA").pk},
    )
    assert "Thorax pa" not in page_text(client.get(reverse("drl-inbox")))
    history = page_text(client.get(reverse("drl-history")))
    assert "Chest PA" in history and "bulk apply" in history


def test_the_history_page_is_audited(logged_in):
    logged_in.get(reverse("drl-history"))
    assert AuditEvent.objects.filter(action="view", object_type="mapping history", username="mpe").exists()


def test_a_set_shows_its_values_with_units_and_what_needs_checking(logged_in):
    german = DrlSet.objects.get(name__contains="Germany")
    text = page_text(logged_in.get(reverse("drl-set-detail", args=[german.pk])))
    assert "Chest PA" in text and "0.12 Gy·cm²" in text and "12 cGy·cm²" in text
    euclid = DrlSet.objects.get(name__contains="EUCLID")
    assert "to be checked" in page_text(logged_in.get(reverse("drl-set-detail", args=[euclid.pk])))


def test_staff_adds_and_edits_a_procedure(client, staff):
    client.force_login(staff)
    client.post(
        reverse("drl-procedures"),
        {
            "name": "CT orbits",
            "modality": "CT",
            "body_region": "Head",
            "radlex_playbook_id": "",
            "active": "on",
        },
    )
    orbits = StandardProcedure.objects.get(name="CT orbits")
    response = client.post(
        reverse("drl-procedure-edit", args=[orbits.pk]),
        {"name": "CT orbits", "modality": "CT", "radlex_playbook_id": "not an id"},
    )
    assert "RPID2492" in page_text(response)
    client.post(
        reverse("drl-procedure-edit", args=[orbits.pk]),
        {"name": "CT orbits", "modality": "CT", "radlex_playbook_id": "rpid123", "active": "on"},
    )
    orbits.refresh_from_db()
    assert orbits.radlex_playbook_id == "RPID123"


def test_staff_computes_a_local_set_from_the_form(client, staff, procedure):
    client.force_login(staff)
    from drl.services import mapping_rule_add

    mapping_rule_add(
        procedure_id=procedure("Chest PA").pk,
        level="study",
        username="boss",
        conditions=[{"field": "study_description", "test": "exact", "value": "Thorax pa"}],
    )
    for dap in (0.1, 0.2, 0.3):
        make_study(study_description="Thorax pa", modality="DX", dap_total_gycm2=dap)
    mapping_refresh()
    day = datetime.date(2024, 3, 1).isoformat()
    response = client.post(
        reverse("drl-compute"),
        {"name": "Ours", "date_from": day, "date_to": day, "min_per_room": 1, "standard_size_only": "on"},
        follow=True,
    )
    local = DrlSet.objects.get(kind="local")
    assert response.redirect_chain[-1][0] == reverse("drl-set-detail", args=[local.pk])
    too_many = client.post(
        reverse("drl-compute"), {"name": "Ours", "date_from": day, "date_to": day, "min_per_room": 50}
    )
    assert "no procedure had a room with at least 50 exams" in page_text(too_many)
