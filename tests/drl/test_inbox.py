"""The inbox of unmapped names, by volume, and bulk apply from it."""

import pytest

from drl.models import MappingRule
from drl.selectors import study_procedure, unmapped_names
from drl.services import InboxName, mapping_bulk_apply, mapping_refresh
from tests.web.factories import make_event, make_study

pytestmark = pytest.mark.django_db


def test_it_lists_unmapped_names_with_counts_by_volume():
    for _ in range(3):
        make_study(study_description="Thorax pa", modality="DX")
    make_study(study_description="CT Knie")
    make_study(study_description="", requested_procedure="CT Knie rechts")
    mapping_refresh()
    rows = [(r.modality, r.field, r.name, r.count) for r in unmapped_names()]
    assert rows == [
        ("DX", "study_description", "Thorax pa", 3),
        ("CT", "study_description", "CT Knie", 1),
        ("CT", "requested_procedure", "CT Knie rechts", 1),
    ]
    assert [r.name for r in unmapped_names(modality="CT")] == ["CT Knie", "CT Knie rechts"]


def test_bulk_apply_maps_the_names_and_later_studies_of_the_same_name(procedure):
    first = make_study(study_description="Thorax pa", modality="DX")
    other = make_study(study_description="Thorax p.a.", modality="DX")
    mapping_refresh()
    change = mapping_bulk_apply(
        names=[
            InboxName("DX", "study_description", "Thorax pa"),
            InboxName("DX", "study_description", "Thorax p.a."),
        ],
        procedure_id=procedure("Chest PA").pk,
        username="boss",
    )
    assert change.result.studies_changed == 2
    assert study_procedure(first) == study_procedure(other) == procedure("Chest PA")
    assert MappingRule.objects.count() == 2
    later = make_study(study_description="THORAX PA", modality="DX")
    mapping_refresh()
    assert study_procedure(later) == procedure("Chest PA")
    assert unmapped_names() == []


def test_the_event_inbox_lists_ct_protocols_and_bulk_applies_event_rules(procedure):
    study = make_study(study_description="CT special")
    for _ in range(2):
        make_event(study, protocol="Head Seq", event_type="Spiral Acquisition")
    mapping_refresh()
    assert [(r.name, r.count) for r in unmapped_names(level="event")] == [("Head Seq", 2)]
    mapping_bulk_apply(
        names=[InboxName("CT", "protocol", "Head Seq")],
        level="event",
        procedure_id=procedure("CT head").pk,
        username="boss",
    )
    assert unmapped_names(level="event") == []
