"""Marking studies as not of a patient: the rule list, re-applying it, a user's decision.

A study is non-patient when an active NonPatientRule matches it (rdsr.non_patient),
unless a user decided (``Study.non_patient_decided_by`` set): then only that user's
decision counts, until someone hands the study back to the rules
(`study_non_patient_set(non_patient=None)`). Every rule change re-applies the
rules to all studies nobody decided on and says how many changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from audit.services import audit_record

from .models import NonPatientRule, Patient, Study
from .non_patient import Rule, non_patient_reason, pattern_problem

logger = logging.getLogger(__name__)

_REASON_LENGTH = Study._meta.get_field("non_patient_reason").max_length


class NonPatientRuleInvalid(ValueError):
    """A rule that cannot be saved (empty, matches everything, already there)."""


@dataclass
class RuleChange:
    rule: NonPatientRule | None
    studies_changed: int


def non_patient_rules_active() -> list[Rule]:
    """The active rules as plain data, in a stable order (the first match gives the reason)."""
    rows = NonPatientRule.objects.filter(active=True).order_by("field", "pattern", "id")
    return [Rule(field=r.field, pattern=r.pattern) for r in rows.only("field", "pattern")]


def study_non_patient_classify(study: Study, *, patient: Patient | None, rules: list[Rule]) -> list[str]:
    """Set the study's non-patient flag from the rules, unless a user decided; return the fields changed.

    For the dose store, which saves the study itself (with its other changes).
    """
    if study.non_patient_decided_by:
        return []
    reason = non_patient_reason(
        rules,
        patient_id=patient.patient_id if patient else "",
        patient_name=patient.name if patient else "",
        study_description=study.study_description,
    )
    flag, text = reason is not None, (reason or "")[:_REASON_LENGTH]
    changed = []
    if study.non_patient != flag:
        study.non_patient = flag
        changed.append("non_patient")
    if study.non_patient_reason != text:
        study.non_patient_reason = text
        changed.append("non_patient_reason")
    return changed


def non_patient_rules_apply() -> int:
    """Re-evaluate every study nobody decided on against the active rules; return how many changed."""
    rules = non_patient_rules_active()
    wanted: dict[tuple[bool, str], list[int]] = {}
    rows = (
        Study.objects.filter(non_patient_decided_by="")
        .order_by()
        .values_list(
            "pk",
            "non_patient",
            "non_patient_reason",
            "study_description",
            "patient__patient_id",
            "patient__name",
        )
    )
    for pk, flag, reason, description, patient_id, name in rows.iterator(chunk_size=2000):
        found = non_patient_reason(
            rules, patient_id=patient_id, patient_name=name, study_description=description
        )
        new = (found is not None, (found or "")[:_REASON_LENGTH])
        if (flag, reason) != new:
            wanted.setdefault(new, []).append(pk)
    changed = 0
    with transaction.atomic():
        for (flag, reason), ids in wanted.items():
            for start in range(0, len(ids), 500):
                # Decided-by is checked again: a user may have decided meanwhile.
                changed += Study.objects.filter(
                    pk__in=ids[start : start + 500], non_patient_decided_by=""
                ).update(non_patient=flag, non_patient_reason=reason)
    return changed


def non_patient_rule_add(*, field: str, pattern: str, note: str = "", user: str) -> RuleChange:
    pattern = pattern.strip()
    problem = pattern_problem(field=field, pattern=pattern)
    if problem:
        raise NonPatientRuleInvalid(problem)
    try:
        with transaction.atomic():
            rule = NonPatientRule.objects.create(
                field=field, pattern=pattern, note=note.strip()[:200], created_by=user[:150]
            )
    except IntegrityError:
        raise NonPatientRuleInvalid(f"there is already a rule '{pattern}' on this field") from None
    logger.info("non-patient rule %s added by %s", rule, user)
    changed = non_patient_rules_apply()
    audit_record(action="create", object_type="non_patient_rule", object_id=rule.pk, username=user,
                 summary=f"non-patient rule added: {rule}; {changed} studies re-classified",
                 details={"field": rule.field, "pattern": rule.pattern, "studies_changed": changed})
    return RuleChange(rule=rule, studies_changed=changed)


def non_patient_rule_set_active(*, rule_id: int, active: bool, user: str) -> RuleChange:
    """Raises NonPatientRule.DoesNotExist."""
    rule = NonPatientRule.objects.get(pk=rule_id)
    if rule.active != active:
        rule.active = active
        rule.save(update_fields=["active"])
        logger.info("non-patient rule %s %s by %s", rule, "enabled" if active else "disabled", user)
    changed = non_patient_rules_apply()
    audit_record(action="change", object_type="non_patient_rule", object_id=rule.pk, username=user,
                 summary=f"non-patient rule {'enabled' if active else 'disabled'}: {rule}; "
                         f"{changed} studies re-classified",
                 details={"active": active, "studies_changed": changed})
    return RuleChange(rule=rule, studies_changed=changed)


def non_patient_rule_delete(*, rule_id: int, user: str) -> RuleChange:
    """Raises NonPatientRule.DoesNotExist."""
    rule = NonPatientRule.objects.get(pk=rule_id)
    logger.info("non-patient rule %s deleted by %s", rule, user)
    described, pk = str(rule), rule.pk
    rule.delete()
    changed = non_patient_rules_apply()
    audit_record(action="delete", object_type="non_patient_rule", object_id=pk, username=user,
                 summary=f"non-patient rule deleted: {described}; {changed} studies re-classified",
                 details={"studies_changed": changed})
    return RuleChange(rule=None, studies_changed=changed)


def study_non_patient_set(*, study_id: int, non_patient: bool | None, user: str, reason: str = "") -> Study:
    """A user's decision on one study: True/False sticks (rules no longer change it),
    None hands the study back to the rules. Raises Study.DoesNotExist."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if non_patient is None:
            study.non_patient_decided_by = ""
            patient = Patient.objects.filter(pk=study.patient_id).first() if study.patient_id else None
            study_non_patient_classify(study, patient=patient, rules=non_patient_rules_active())
        else:
            study.non_patient = non_patient
            default = "marked not a patient" if non_patient else "marked a patient"
            study.non_patient_reason = (reason.strip() or f"{default} by {user}")[:_REASON_LENGTH]
            study.non_patient_decided_by = user[:150] or "(unknown user)"
        study.save(
            update_fields=["non_patient", "non_patient_reason", "non_patient_decided_by", "updated_at"]
        )
        decision = {True: "marked not a patient", False: "marked a patient", None: "handed back to the rules"}
        audit_record(action="change", object_type="study", object_id=study.pk, username=user,
                     patient_pk=study.patient_id, summary=f"study {decision[non_patient]}",
                     details={"non_patient": study.non_patient, "reason": study.non_patient_reason})
    logger.info("study %s: non-patient %s by %s", study_id, non_patient, user)
    return study
