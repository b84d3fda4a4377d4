"""drl.mapping on its own: rules and facts in, a procedure out, no database."""

import pytest

from drl.mapping import (
    Condition,
    EventFacts,
    Rule,
    RuleInvalid,
    RuleSet,
    StudyFacts,
    event_inbox_name,
    inbox_name,
    rule_problem,
)


def rule(rid, procedure, *conditions, level="study", modality="", device_id=None):
    return Rule(
        id=rid,
        procedure_id=procedure,
        level=level,
        modality=modality,
        device_id=device_id,
        conditions=tuple(Condition(*c) for c in conditions),
    )


def test_contains_is_case_insensitive_and_ignores_extra_spaces():
    rules = RuleSet([rule(1, 10, ("study_description", "contains", "thorax"))])
    assert rules.match_study(StudyFacts(study_description="CT  THORAX  nativ")).procedure_id == 10
    assert rules.match_study(StudyFacts(study_description="CT Abdomen")) is None


def test_exact_matches_the_whole_value_only():
    rules = RuleSet([rule(1, 10, ("study_description", "exact", "Chest PA"))])
    assert rules.match_study(StudyFacts(study_description=" chest pa ")) is not None
    assert rules.match_study(StudyFacts(study_description="Chest PA and lateral")) is None


def test_regex_searches_case_insensitively():
    rules = RuleSet([rule(1, 10, ("requested_procedure", "regex", r"^ct\s+(kub|urogra)"))])
    assert rules.match_study(StudyFacts(requested_procedure="CT KUB low dose")) is not None
    assert rules.match_study(StudyFacts(requested_procedure="CT Urography")) is not None
    assert rules.match_study(StudyFacts(requested_procedure="MR KUB")) is None


def test_the_first_matching_rule_in_order_wins():
    rules = RuleSet(
        [
            rule(1, 10, ("study_description", "contains", "chest abdomen")),
            rule(2, 20, ("study_description", "contains", "chest")),
        ]
    )
    assert rules.match_study(StudyFacts(study_description="CT chest abdomen pelvis")).rule_id == 1
    assert rules.match_study(StudyFacts(study_description="CT chest")).rule_id == 2


def test_all_conditions_must_hold():
    rules = RuleSet(
        [rule(1, 10, ("study_description", "contains", "head"), ("order_reason", "contains", "stroke"))]
    )
    assert rules.match_study(StudyFacts(study_description="CT head", order_reason="acute stroke")) is not None
    assert rules.match_study(StudyFacts(study_description="CT head", order_reason="trauma")) is None


def test_modality_and_device_restrict_a_rule():
    rules = RuleSet([rule(1, 10, ("study_description", "contains", "chest"), modality="DX", device_id=7)])
    assert rules.match_study(StudyFacts(modality="DX", device_id=7, study_description="Chest")) is not None
    assert rules.match_study(StudyFacts(modality="CT", device_id=7, study_description="Chest")) is None
    assert rules.match_study(StudyFacts(modality="DX", device_id=8, study_description="Chest")) is None


def test_a_study_rule_on_protocol_holds_when_any_event_matches():
    rules = RuleSet([rule(1, 10, ("protocol", "contains", "angio"))])
    facts = StudyFacts(protocol=frozenset({"Topogram", "Thorax Angio"}))
    assert rules.match_study(facts) is not None


def test_event_rules_map_ct_sequences_with_their_study_facts():
    rules = RuleSet(
        [
            rule(1, 10, ("protocol", "contains", "head"), level="event"),
            rule(
                2,
                20,
                ("study_description", "contains", "polytrauma"),
                ("protocol", "contains", "body"),
                level="event",
            ),
        ]
    )
    study = StudyFacts(modality="CT", study_description="Polytrauma")
    assert rules.match_event(EventFacts(study=study, protocol="Head seq")).procedure_id == 10
    assert rules.match_event(EventFacts(study=study, protocol="Body 1.0")).procedure_id == 20
    assert rules.match_study(study) is None  # event rules never map a study
    dx = StudyFacts(modality="DX")
    assert rules.match_event(EventFacts(study=dx, protocol="Head")) is None


def test_an_invalid_regular_expression_is_refused_with_the_reason():
    bad = rule(1, 10, ("study_description", "regex", "chest("))
    assert "invalid regular expression" in rule_problem(bad)
    with pytest.raises(RuleInvalid, match="invalid regular expression"):
        RuleSet([bad])


def test_a_rule_needs_a_condition_and_known_fields():
    assert rule_problem(rule(1, 10)) == "give at least one condition"
    assert "unknown field" in rule_problem(rule(1, 10, ("colour", "exact", "red")))
    assert "empty" in rule_problem(rule(1, 10, ("study_description", "exact", "  ")))
    assert "CT" in rule_problem(rule(1, 10, ("protocol", "exact", "x"), level="event", modality="DX"))


def test_the_inbox_name_is_the_first_name_a_study_has():
    assert inbox_name(StudyFacts(study_description="", requested_procedure="Thorax pa")) == (
        "requested_procedure",
        "Thorax pa",
    )
    assert inbox_name(StudyFacts(order_text="CT Schädel")) == ("order_text", "CT Schädel")
    assert inbox_name(StudyFacts()) == ("", "")
    assert event_inbox_name(EventFacts(study=StudyFacts(), protocol=" Head  std ")) == (
        "protocol",
        "Head std",
    )
