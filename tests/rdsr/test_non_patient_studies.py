"""Studies marked not a patient on store, re-applied when rules change, and decided by a user."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rdsr import selectors
from rdsr.models import NonPatientRule, Study
from rdsr.non_patient_services import (
    NonPatientRuleInvalid,
    non_patient_rule_add,
    non_patient_rule_delete,
    non_patient_rule_set_active,
    study_non_patient_set,
)
from rdsr.services import dose_record_store, dose_records_store
from tests.rdsr.factories import ct_event, ct_record, uid

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def only_our_rules():
    # The shipped defaults are tested in test_non_patient_rules; here each test sets its own.
    NonPatientRule.objects.all().delete()


def _record(*, name="Doe^Jane", patient_id=None, description="CT Thorax"):
    record = ct_record(events=[ct_event()], study_uid=uid(), patient_id=patient_id or f"P-{uid()}")
    record.patient.name = name
    record.study.study_description = description
    return record


def _rule(field, pattern):
    return NonPatientRule.objects.create(field=field, pattern=pattern)


def test_a_study_matching_a_rule_is_marked_when_stored_one_by_one_and_in_a_batch():
    _rule("patient_name", "*phantom*")
    one = dose_record_store(record=_record(name="Catphan^Phantom")).study
    batch = dose_records_store(records=[_record(name="PHANTOM^Water"), _record(name="Doe^Jane")])

    one.refresh_from_db()
    assert (one.non_patient, one.non_patient_reason) == (True, "Patient name matches '*phantom*'")
    assert [Study.objects.get(pk=r.study.pk).non_patient for r in batch] == [True, False]
    assert list(selectors.patient_studies()) == [Study.objects.get(pk=batch[1].study.pk)]


def test_a_batch_reads_the_rules_once_whatever_its_size():
    _rule("patient_name", "*phantom*")
    counts = []
    for size in (2, 12):
        records = [_record(name="Phantom^X" if i % 2 else "Doe^Jane") for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            dose_records_store(records=records)
        counts.append(sum("rdsr_nonpatientrule" in q["sql"] for q in queries.captured_queries))
    assert counts == [1, 1]
    assert Study.objects.filter(non_patient=True).count() == 7


def test_the_study_description_stored_later_can_mark_a_study():
    _rule("study_description", "*physicstest*")
    first = _record(description="")
    study = dose_record_store(record=first).study
    assert not Study.objects.get(pk=study.pk).non_patient

    later = ct_record(
        events=[ct_event()], study_uid=first.study.study_instance_uid, patient_id=first.patient.patient_id
    )
    later.study.study_description = "Specials^PhysicsTesting (Adult)"
    dose_record_store(record=later)

    assert Study.objects.get(pk=study.pk).non_patient


def test_adding_disabling_enabling_and_deleting_a_rule_re_applies_the_rules_and_says_how_many_changed():
    studies = [dose_record_store(record=_record(name=n)).study for n in ("QA^Daily", "Qasim^Ali", "Doe^Jane")]

    added = non_patient_rule_add(field="patient_name", pattern="qa *", note="daily QA", user="boss")
    assert added.studies_changed == 1
    assert added.rule.created_by == "boss"
    assert _flags(studies) == [True, False, False]

    assert non_patient_rule_set_active(rule_id=added.rule.pk, active=False, user="boss").studies_changed == 1
    assert _flags(studies) == [False, False, False]
    assert non_patient_rule_set_active(rule_id=added.rule.pk, active=True, user="boss").studies_changed == 1
    assert non_patient_rule_delete(rule_id=added.rule.pk, user="boss").studies_changed == 1
    assert _flags(studies) == [False, False, False]
    assert Study.objects.get(pk=studies[0].pk).non_patient_reason == ""


def _flags(studies):
    return [Study.objects.get(pk=s.pk).non_patient for s in studies]


def test_a_rule_that_would_catch_everything_or_exists_already_is_refused():
    non_patient_rule_add(field="patient_id", pattern="test*", user="boss")
    for field, pattern, says in [
        ("patient_id", "*", "matches everything"),
        ("patient_id", " test* ", "already a rule"),
        ("patient_sex", "M", "unknown field"),
    ]:
        with pytest.raises(NonPatientRuleInvalid, match=says):
            non_patient_rule_add(field=field, pattern=pattern, user="boss")
    assert NonPatientRule.objects.count() == 1


def test_a_users_decision_sticks_through_rule_changes_and_new_objects_until_handed_back_to_the_rules():
    record = _record(name="Phantom^Body")
    rule = _rule("patient_name", "*phantom*")
    study = dose_record_store(record=record).study

    decided = study_non_patient_set(
        study_id=study.pk, non_patient=False, user="mpe", reason="real patient named Phantom"
    )
    assert (decided.non_patient, decided.non_patient_decided_by) == (False, "mpe")
    assert decided.non_patient_reason == "real patient named Phantom"

    non_patient_rule_set_active(rule_id=rule.pk, active=True, user="boss")
    again = ct_record(
        events=[ct_event()], study_uid=record.study.study_instance_uid, patient_id=record.patient.patient_id
    )
    dose_record_store(record=again)
    assert not Study.objects.get(pk=study.pk).non_patient

    back = study_non_patient_set(study_id=study.pk, non_patient=None, user="mpe")
    assert (back.non_patient, back.non_patient_decided_by) == (True, "")
    assert back.non_patient_reason == "Patient name matches '*phantom*'"


def test_a_user_can_mark_a_study_the_rules_miss_and_unmark_it():
    study = dose_record_store(record=_record(name="Doe^Jane")).study

    marked = study_non_patient_set(study_id=study.pk, non_patient=True, user="mpe", reason="")
    assert (marked.non_patient, marked.non_patient_reason) == (True, "marked not a patient by mpe")
    assert non_patient_rule_add(field="patient_id", pattern="zzz*", user="boss").studies_changed == 0
    assert Study.objects.get(pk=study.pk).non_patient

    back = study_non_patient_set(study_id=study.pk, non_patient=None, user="mpe")
    assert (back.non_patient, back.non_patient_reason, back.non_patient_decided_by) == (False, "", "")


def test_deciding_on_a_study_that_does_not_exist_raises_does_not_exist():
    with pytest.raises(Study.DoesNotExist):
        study_non_patient_set(study_id=999999, non_patient=True, user="mpe")
