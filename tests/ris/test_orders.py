"""Orders from ORM^O01 and OMI^O23: created, changed, cancelled, linked to studies."""

import pytest

from ris.models import Order
from ris.selectors import study_order
from tests.ris.hl7_messages import apply, dose_study, omi, orm

pytestmark = pytest.mark.django_db


def test_it_creates_an_order_from_an_orm_nw():
    apply(orm("NW", "P1", accession="A100"))
    order = Order.objects.get(accession_number="A100")
    assert order.status == Order.Status.SCHEDULED
    assert (order.procedure_code, order.procedure_text, order.reason) == ("CTABD", "CT Abdomen", "Suspected appendicitis")
    assert order.requested_procedure_id == "RPA100"
    assert order.patient.patient_id == "P1"
    assert order.scheduled_at is not None


def test_it_cancels_an_order_with_ca():
    apply(orm("NW", "P1", accession="A101"))
    apply(orm("CA", "P1", accession="A101"))
    order = Order.objects.get(accession_number="A101")
    assert order.status == Order.Status.CANCELLED
    assert Order.objects.count() == 1


def test_it_changes_an_order_with_xo():
    apply(orm("NW", "P1", accession="A102"))
    apply(orm("XO", "P1", accession="A102", code="CTTHX", text="CT Thorax"))
    order = Order.objects.get(accession_number="A102")
    assert order.procedure_code == "CTTHX"
    assert order.status == Order.Status.SCHEDULED


def test_it_sets_the_status_sent_with_sc():
    apply(orm("NW", "P1", accession="A103"))
    apply(orm("SC", "P1", accession="A103", order_status="CM"))
    assert Order.objects.get(accession_number="A103").status == Order.Status.COMPLETED


def test_it_creates_an_order_from_an_omi_o23_with_the_study_uid_of_ipc():
    apply(omi("NW", "P2", accession="A200", study_uid="1.2.8.1"))
    order = Order.objects.get(accession_number="A200")
    assert order.study_instance_uid == "1.2.8.1"
    assert order.modality == "DX"


def test_it_links_an_order_to_its_study_by_study_instance_uid_first():
    by_uid = dose_study(study_uid="1.2.8.2", patient_id="P3", accession="OTHER")
    dose_study(study_uid="1.2.8.3", patient_id="P3", accession="A300")
    apply(orm("NW", "P3", accession="A300", study_uid="1.2.8.2"))
    assert Order.objects.get(accession_number="A300").study == by_uid


def test_it_finds_the_order_of_a_study_that_arrives_after_the_order_by_accession_number():
    apply(orm("NW", "P4", accession="A400"))
    study = dose_study(study_uid="1.2.8.4", patient_id="P4", accession="A400")
    assert study_order(study=study).accession_number == "A400"
