"""Parsing HL7 into dataclasses, with no database."""

import datetime as dt

import pytest

from ris.hl7_parse import Hl7ParseError, hl7_parse
from tests.ris.hl7_messages import adt, omi, orm


def test_it_reads_the_patient_of_an_adt_a01():
    parsed = hl7_parse(adt("A01", "P1", name="Muster^Max^K", birth="19800215", sex="M"))
    assert (parsed.message_type, parsed.trigger) == ("ADT", "A01")
    assert parsed.patient.primary.id == "P1"
    assert parsed.patient.primary.authority == "HOSP"
    assert parsed.patient.name == "Muster^Max^K"
    assert parsed.patient.birth_date == dt.date(1980, 2, 15)
    assert parsed.patient.sex == "M"


def test_it_reads_the_prior_identifier_of_a_merge():
    parsed = hl7_parse(adt("A40", "P1", prior="P2"))
    assert [(i.id, i.authority) for i in parsed.prior] == [("P2", "HOSP")]


def test_it_reads_an_orm_order_with_its_study_uid_from_zds():
    [order] = hl7_parse(orm("NW", "P1", accession="ACC9", study_uid="1.2.3.4")).orders
    assert order.control == "NW"
    assert order.accession_number == "ACC9"
    assert order.requested_procedure_id == "RPACC9"
    assert (order.procedure_code, order.procedure_text) == ("CTABD", "CT Abdomen")
    assert order.reason == "Suspected appendicitis"
    assert order.scheduled_at == dt.datetime(2025, 3, 1, 9, 0)
    assert order.study_instance_uid == "1.2.3.4"
    assert order.ordering_location == "RAD"


def test_it_reads_an_omi_order_from_ipc_and_tq1():
    [order] = hl7_parse(omi("NW", "P1", accession="ACC8", study_uid="1.2.3.5", scheduled="20250302143000")).orders
    assert order.accession_number == "ACC8"
    assert order.study_instance_uid == "1.2.3.5"
    assert order.modality == "DX"
    assert order.scheduled_at == dt.datetime(2025, 3, 2, 14, 30)


def test_it_reads_a_message_whose_segments_end_in_line_feeds():
    parsed = hl7_parse(adt("A08", "P3").replace("\r", "\n"))
    assert parsed.patient.primary.id == "P3"


def test_it_warns_about_a_birth_date_it_cannot_read():
    parsed = hl7_parse(adt("A08", "P3", birth="19801345"))
    assert parsed.patient.birth_date is None
    assert parsed.warnings


def test_it_refuses_text_without_msh():
    with pytest.raises(Hl7ParseError):
        hl7_parse("PID|1||P1\r")
