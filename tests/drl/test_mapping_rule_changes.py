"""Adding, changing and deleting rules re-evaluates the mappings; a preview says what would change."""

import pytest

from drl.mapping import RuleInvalid
from drl.models import MappingChange, MappingRule
from drl.selectors import study_procedure
from drl.services import (
    mapping_refresh,
    mapping_rule_add,
    mapping_rule_change,
    mapping_rule_delete,
    mapping_rule_delete_preview,
    mapping_rule_preview,
    study_mapping_set,
)
from tests.drl.conftest import cond
from tests.web.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def studies():
    chest = [make_study(study_description="CT Thorax") for _ in range(2)]
    head = make_study(study_description="CT Schädel")
    mapping_refresh()
    return chest, head


def test_adding_a_rule_maps_existing_studies_and_writes_history(procedure, studies):
    chest, _head = studies
    change = mapping_rule_add(
        procedure_id=procedure("CT chest").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "thorax")],
    )
    assert change.result.studies_changed == 2
    assert study_procedure(chest[0]) == procedure("CT chest")
    history = MappingChange.objects.filter(rule=change.rule)
    assert history.count() == 2 and {h.username for h in history} == {"boss"}


def test_changing_and_deleting_a_rule_remaps(procedure, studies):
    chest, _head = studies
    rule = mapping_rule_add(
        procedure_id=procedure("CT chest").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "thorax")],
    ).rule
    mapping_rule_change(
        rule_id=rule.pk,
        procedure_id=procedure("CTPA").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "thorax")],
    )
    assert study_procedure(chest[0]) == procedure("CTPA")
    mapping_rule_delete(rule_id=rule.pk, username="boss")
    assert study_procedure(chest[0]) is None
    assert not MappingRule.objects.exists()
    names = list(
        MappingChange.objects.filter(study=chest[0]).order_by("id").values_list("old_name", "new_name")
    )
    assert names == [("", "CT chest"), ("CT chest", "CTPA"), ("CTPA", "")]


def test_the_preview_says_what_would_change_and_saves_nothing(procedure, studies):
    _chest, head = studies
    preview = mapping_rule_preview(
        procedure_id=procedure("CT head").pk,
        level="study",
        conditions=[cond("study_description", "regex", "sch(ä|ae)del")],
    )
    assert preview.studies_changed == 1
    assert [(e.study_id, e.old, e.new, e.name) for e in preview.examples] == [
        (head.pk, "", "CT head", "CT Schädel")
    ]
    assert not MappingRule.objects.exists() and study_procedure(head) is None


def test_the_preview_of_a_change_and_of_a_delete(procedure, studies):
    rule = mapping_rule_add(
        procedure_id=procedure("CT chest").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "thorax")],
    ).rule
    same = mapping_rule_preview(
        rule_id=rule.pk,
        procedure_id=procedure("CT chest").pk,
        level="study",
        conditions=[cond("study_description", "contains", "thorax")],
    )
    assert same.studies_changed == 0
    assert mapping_rule_delete_preview(rule_id=rule.pk).studies_changed == 2


def test_an_invalid_regex_is_refused_before_saving(procedure):
    with pytest.raises(RuleInvalid, match="invalid regular expression"):
        mapping_rule_add(
            procedure_id=procedure("CT head").pk,
            level="study",
            username="boss",
            conditions=[cond("study_description", "regex", "[head")],
        )
    assert not MappingRule.objects.exists()


def test_a_study_mapped_by_hand_keeps_its_procedure_until_handed_back(procedure, studies):
    chest, _head = studies
    mapping_rule_add(
        procedure_id=procedure("CT chest").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "thorax")],
    )
    study_mapping_set(study_id=chest[0].pk, procedure_id=procedure("CTPA").pk, username="mpe")
    mapping_refresh(everything=True)
    assert study_procedure(chest[0]) == procedure("CTPA")
    study_mapping_set(study_id=chest[0].pk, procedure_id=None, username="mpe")
    assert study_procedure(chest[0]) == procedure("CT chest")
