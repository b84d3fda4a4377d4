"""Reconciliation worklists for the MPE, and reassigning a study with an audit trail."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import AuditEvent
from ris.models import Order
from ris.selectors import orders_without_dose, studies_with_patient_mismatch, studies_without_order
from ris.services import study_reassign, study_reassignment_reverse
from tests.ris.hl7_messages import apply, dose_study, orm

pytestmark = pytest.mark.django_db

LATER = timezone.make_aware(dt.datetime(2025, 3, 5, 12, 0))


def test_it_lists_an_order_without_dose_data_after_its_grace_time():
    apply(orm("NW", "P1", accession="W1", scheduled="20250301090000"))
    apply(orm("NW", "P1", accession="W2", scheduled="20250301090000"))
    dose_study(study_uid="1.2.7.2", patient_id="P1", accession="W2")

    assert [o.accession_number for o in orders_without_dose(now=LATER, grace_hours=24)] == ["W1"]
    # Not yet due: within the grace time.
    assert list(orders_without_dose(now=LATER, grace_hours=24 * 30)) == []


def test_it_leaves_cancelled_orders_off_the_list():
    apply(orm("NW", "P1", accession="W3"))
    apply(orm("CA", "P1", accession="W3"))
    assert list(orders_without_dose(now=LATER, grace_hours=1)) == []


def test_it_lists_a_study_with_dose_data_but_no_order():
    apply(orm("NW", "P1", accession="W4"))
    dose_study(study_uid="1.2.7.4", patient_id="P1", accession="W4")
    lonely = dose_study(study_uid="1.2.7.5", patient_id="EMERGENCY1", accession="")
    assert list(studies_without_order()) == [lonely]


def test_it_lists_a_study_whose_patient_disagrees_with_the_ris():
    apply(orm("NW", "P1", accession="W6"))
    study = dose_study(study_uid="1.2.7.6", patient_id="UNKNOWN-7", accession="W6")
    assert list(studies_with_patient_mismatch()) == [study]


def test_a_reassignment_moves_the_study_shows_in_the_audit_trail_and_can_be_reversed():
    user = get_user_model().objects.create_user("mpe", password="x", is_staff=True)
    apply(orm("NW", "RIGHT", accession="W7"))
    order = Order.objects.get(accession_number="W7")
    study = dose_study(study_uid="1.2.7.7", patient_id="TRAUMA-1", accession="")
    wrong_patient = study.patient

    done = study_reassign(study_id=study.pk, patient_id=None, order_id=order.pk, reason="polytrauma: entered at the modality", user=user)

    study.refresh_from_db()
    assert study.patient == order.patient
    assert Order.objects.get(pk=order.pk).study == study
    assert list(studies_without_order()) == []
    event = AuditEvent.objects.get(action="reassign", patient_pk=order.patient.pk)
    assert event.username == "mpe"
    assert "polytrauma" in event.details["reason"]

    study_reassignment_reverse(reassignment_id=done.pk, reason="wrong order", user=user)
    study.refresh_from_db()
    assert study.patient == wrong_patient
    assert Order.objects.get(pk=order.pk).study is None
    assert list(studies_without_order()) == [study]


def test_a_reassignment_needs_a_reason():
    study = dose_study(study_uid="1.2.7.8", patient_id="X1")
    with pytest.raises(ValueError):
        study_reassign(study_id=study.pk, patient_id=study.patient_id, order_id=None, reason=" ", user=None)
