"""mapping_refresh: maps new and changed studies and their CT events, idempotently, with history."""

import pytest

from drl.models import EventMapping, MappingChange, StudyMapping
from drl.selectors import event_procedure, study_procedure
from drl.services import mapping_refresh, mapping_rule_add
from ris.models import Order
from tests.drl.conftest import cond
from tests.web.factories import make_event, make_study

pytestmark = pytest.mark.django_db


def test_it_maps_new_studies_and_leaves_unmatched_ones_in_the_inbox(procedure, staff):
    mapping_rule_add(
        procedure_id=procedure("CT head").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "head")],
    )
    head = make_study(study_description="CT Head routine")
    other = make_study(study_description="CT Knee")
    result = mapping_refresh()
    assert result.studies_checked == 2
    assert study_procedure(head) == procedure("CT head")
    assert study_procedure(other) is None
    assert StudyMapping.objects.get(study=other).name == "CT Knee"


def test_a_second_run_changes_nothing(procedure):
    mapping_rule_add(
        procedure_id=procedure("CT head").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "head")],
    )
    make_study(study_description="CT Head")
    mapping_refresh()
    again = mapping_refresh()
    assert again.studies_checked == 0
    forced = mapping_refresh(everything=True)
    assert (forced.studies_changed, forced.events_changed) == (0, 0)
    assert MappingChange.objects.count() == 0


def test_a_changed_study_is_mapped_again_with_history(procedure):
    mapping_rule_add(
        procedure_id=procedure("CT head").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "head")],
    )
    study = make_study(study_description="CT Knee")
    mapping_refresh()
    study.study_description = "CT Head"
    study.save()
    result = mapping_refresh()
    assert result.studies_changed == 1
    change = MappingChange.objects.get()
    assert (change.study, change.old_name, change.new_name) == (study, "", "CT head")


def test_ct_events_take_event_rules_else_their_studys_procedure_but_localizers_never(procedure):
    mapping_rule_add(
        procedure_id=procedure("CT chest-abdomen-pelvis").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "polytrauma")],
    )
    mapping_rule_add(
        procedure_id=procedure("CT head").pk,
        level="event",
        username="boss",
        conditions=[cond("protocol", "contains", "head")],
    )
    study = make_study(study_description="Polytrauma")
    scout = make_event(study, protocol="Topogram", event_type="Constant Angle Acquisition")
    head = make_event(study, protocol="Head 5mm", event_type="Spiral Acquisition", ctdivol_mgy=50)
    body = make_event(study, protocol="Body", event_type="Spiral Acquisition", ctdivol_mgy=10)
    mapping_refresh()
    assert event_procedure(head) == procedure("CT head")
    assert event_procedure(body) == procedure("CT chest-abdomen-pelvis")
    assert event_procedure(scout) is None
    assert EventMapping.objects.get(event=scout).name == ""  # kept out of the inbox


def test_an_event_added_later_is_mapped_on_the_next_run(procedure):
    study = make_study(study_description="CT Head")
    mapping_refresh()
    event = make_event(study, protocol="Head")
    assert mapping_refresh().studies_checked == 1
    assert EventMapping.objects.filter(event=event).exists()


def test_rules_can_use_the_order_from_hl7(procedure):
    mapping_rule_add(
        procedure_id=procedure("CTPA").pk,
        level="study",
        username="boss",
        conditions=[cond("order_code", "exact", "CTPA01")],
    )
    study = make_study(study_description="CT Thorax", accession_number="ACC77")
    Order.objects.create(patient=study.patient, accession_number="ACC77", procedure_code="CTPA01")
    mapping_refresh(everything=True)
    assert study_procedure(study) == procedure("CTPA")
