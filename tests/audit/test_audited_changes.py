"""Changes to patient data made through the services leave an audit event."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from rdsr.non_patient_services import non_patient_rule_add, study_non_patient_set
from rdsr.patient_size_services import patient_size_import
from tests.web.factories import make_study


@pytest.mark.django_db
def test_a_non_patient_decision_is_audited_with_its_patient():
    study = make_study()
    study_non_patient_set(study_id=study.pk, non_patient=True, user="mpe", reason="phantom scan")
    event = AuditEvent.objects.get(object_type="study")
    assert (event.action, event.username, event.patient_pk) == ("change", "mpe", study.patient_id)
    assert event.details["reason"] == "phantom scan"


@pytest.mark.django_db
def test_a_rule_change_is_audited():
    non_patient_rule_add(field="patient_name", pattern="*dummy*", user="mpe")
    event = AuditEvent.objects.get(object_type="non_patient_rule")
    assert event.action == "create" and "*dummy*" in event.summary


@pytest.mark.django_db
def test_a_size_import_that_changes_studies_is_audited_with_each_change():
    study = make_study(accession_number="ACC-AUD-1")
    patient_size_import(csv_bytes=b"Accession number,height(cm),weight(kg)\nACC-AUD-1,172,70\n",
                        overwrite=False, user="mpe")
    event = AuditEvent.objects.get(object_type="patient_size_csv")
    assert event.action == "import" and event.username == "mpe"
    assert {(c["study"], c["field"]) for c in event.details["changes"]} == {(study.pk, "height_m"),
                                                                            (study.pk, "weight_kg")}
