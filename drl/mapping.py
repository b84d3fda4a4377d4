"""Which standard procedure a study or a CT event is: pure rule matching, no database.

A rule is an ordered list entry: a level ("study" or "event"), optionally a
modality and a device it is restricted to, and one or more conditions that must
all hold (AND). A condition names a fact (study description, requested
procedure, the order's procedure code, text and indication, protocol, target
region, body part, event type), a test (contains, exact, regular expression;
all case-insensitive, surrounding white space ignored) and a value. The first
active rule in order that matches wins; a study or event no rule matches is
unmapped and shows in the inbox under its name (`inbox_name`).

At study level, the event facts (protocol, target region, body part, event
type) are the sets of their values over the study's events: a condition on
them holds when any event's value passes. At event level (CT: CTDIvol DRLs are
per sequence), the facts are the event's own plus its study's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

LEVELS = {"study": "Study (exam)", "event": "Event (CT sequence)"}

FIELD_LABELS = {
    "study_description": "Study description",
    "requested_procedure": "Requested procedure",
    "procedure_reported": "Procedure reported",
    "order_code": "Order procedure code (HL7)",
    "order_text": "Order procedure text (HL7)",
    "order_reason": "Order indication (HL7)",
    "protocol": "Protocol / acquisition protocol",
    "target_region": "Target region",
    "body_part": "Body part",
    "event_type": "Event type",
}
# Facts that belong to events: a set of values at study level, one value at event level.
EVENT_FIELDS = ("protocol", "target_region", "body_part", "event_type")

TEST_LABELS = {"contains": "contains", "exact": "is exactly", "regex": "matches regular expression"}

# The inbox shows an unmapped study under the first of these it has.
STUDY_NAME_FIELDS = ("study_description", "requested_procedure", "procedure_reported", "order_text")
# CT localizers are not DRL sequences: they never inherit the exam's procedure.
LOCALIZER_EVENT_TYPES = frozenset({"constant angle acquisition"})


class RuleInvalid(ValueError):
    """A rule that cannot be used; the message says why, for a form."""


@dataclass(frozen=True)
class Condition:
    field: str  # a key of FIELD_LABELS
    test: str  # a key of TEST_LABELS
    value: str


@dataclass(frozen=True)
class Rule:
    id: int | None
    procedure_id: int
    level: str = "study"
    conditions: tuple[Condition, ...] = ()
    modality: str = ""  # "" any
    device_id: int | None = None  # None any


@dataclass(frozen=True)
class StudyFacts:
    modality: str = ""
    device_id: int | None = None
    study_description: str = ""
    requested_procedure: str = ""
    procedure_reported: str = ""
    order_code: str = ""
    order_text: str = ""
    order_reason: str = ""
    protocol: frozenset[str] = frozenset()
    target_region: frozenset[str] = frozenset()
    body_part: frozenset[str] = frozenset()
    event_type: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EventFacts:
    study: StudyFacts
    protocol: str = ""
    target_region: str = ""
    body_part: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class Match:
    rule_id: int | None
    procedure_id: int


def condition_problem(condition: Condition) -> str | None:
    """Why a condition cannot be used, or None."""
    if condition.field not in FIELD_LABELS:
        return f"unknown field {condition.field!r}"
    if condition.test not in TEST_LABELS:
        return f"unknown test {condition.test!r}"
    value = condition.value.strip()
    if not value:
        return f"{FIELD_LABELS[condition.field]}: the value is empty"
    if len(value) > 200:
        return f"{FIELD_LABELS[condition.field]}: the value is longer than 200 characters"
    if condition.test == "regex":
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            return f"{FIELD_LABELS[condition.field]}: invalid regular expression {value!r}: {exc}"
    return None


def rule_problem(rule: Rule) -> str | None:
    """Why a rule cannot be used, or None."""
    if rule.level not in LEVELS:
        return f"unknown level {rule.level!r}"
    if not rule.conditions:
        # A rule without a condition would map every study of the modality.
        return "give at least one condition"
    if rule.level == "event" and rule.modality not in ("", "CT"):
        return "event-level rules are for CT sequences only"
    for condition in rule.conditions:
        problem = condition_problem(condition)
        if problem:
            return problem
    return None


def validate_rule(rule: Rule) -> Rule:
    problem = rule_problem(rule)
    if problem:
        raise RuleInvalid(problem)
    return rule


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


@dataclass
class _Compiled:
    rule: Rule
    tests: list[tuple[str, object]] = field(default_factory=list)  # (field, predicate)


def _predicate(condition: Condition):
    value = _norm(condition.value)
    if condition.test == "exact":
        return lambda text: _norm(text) == value
    if condition.test == "contains":
        return lambda text: value in _norm(text)
    pattern = re.compile(condition.value.strip(), re.IGNORECASE)
    return lambda text: pattern.search(" ".join((text or "").split())) is not None


class RuleSet:
    """Rules compiled once, in their order, for matching many studies and events."""

    def __init__(self, rules: Iterable[Rule]):
        self._study: list[_Compiled] = []
        self._event: list[_Compiled] = []
        for rule in rules:
            validate_rule(rule)
            compiled = _Compiled(rule, [(c.field, _predicate(c)) for c in rule.conditions])
            (self._event if rule.level == "event" else self._study).append(compiled)

    @property
    def has_event_rules(self) -> bool:
        return bool(self._event)

    def match_study(self, facts: StudyFacts) -> Match | None:
        for compiled in self._study:
            if _restriction_ok(compiled.rule, facts) and all(
                _holds(predicate, _study_value(facts, name)) for name, predicate in compiled.tests
            ):
                return Match(compiled.rule.id, compiled.rule.procedure_id)
        return None

    def match_event(self, facts: EventFacts) -> Match | None:
        if (facts.study.modality or "").upper() != "CT":
            return None
        for compiled in self._event:
            if _restriction_ok(compiled.rule, facts.study) and all(
                _holds(predicate, _event_value(facts, name)) for name, predicate in compiled.tests
            ):
                return Match(compiled.rule.id, compiled.rule.procedure_id)
        return None


def _restriction_ok(rule: Rule, facts: StudyFacts) -> bool:
    if rule.modality and rule.modality.upper() != (facts.modality or "").upper():
        return False
    return rule.device_id is None or rule.device_id == facts.device_id


def _holds(predicate, value: str | frozenset[str]) -> bool:
    if isinstance(value, frozenset):
        return any(predicate(v) for v in value)
    return predicate(value)


def _study_value(facts: StudyFacts, name: str) -> str | frozenset[str]:
    return getattr(facts, name)


def _event_value(facts: EventFacts, name: str) -> str:
    if name in EVENT_FIELDS:
        return getattr(facts, name)
    return getattr(facts.study, name)


def is_localizer(event_type: str) -> bool:
    return _norm(event_type) in LOCALIZER_EVENT_TYPES


def inbox_name(facts: StudyFacts) -> tuple[str, str]:
    """(field, name) an unmapped study is listed under in the inbox; ("", "") when it has none."""
    for name in STUDY_NAME_FIELDS:
        value = " ".join((getattr(facts, name) or "").split())
        if value:
            return name, value
    return "", ""


def event_inbox_name(facts: EventFacts) -> tuple[str, str]:
    """(field, name) an unmapped CT event is listed under: its protocol."""
    value = " ".join((facts.protocol or "").split())
    return ("protocol", value) if value else ("", "")
