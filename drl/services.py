"""Writes of the drl app: the catalogue, mapping rules and mappings, local DRL sets.

Mapping (drl.mapping decides, this module stores): every study gets a
StudyMapping row (procedure null: unmapped, listed in the inbox) and every
event of a CT study an EventMapping row. An event that no event-level rule
matches takes its study's procedure, unless it is a localizer. A study mapped
by hand keeps its procedure until handed back to the rules. Every change of an
existing mapping is written to MappingChange. Rule changes re-evaluate every
study in the same transaction; `mapping_refresh()` (beat, embedded sweeper)
maps studies that are new or changed since they were mapped.

The dose records themselves are only read here (STYLE.md: drl never writes them).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audit.services import audit_record
from rdsr.models import IrradiationEvent, Study
from rdsr.selectors import patient_studies
from ris.models import Order

from .local import local_drl
from .mapping import (
    Condition,
    EventFacts,
    Rule,
    RuleInvalid,
    RuleSet,
    StudyFacts,
    event_inbox_name,
    inbox_name,
    is_localizer,
    validate_rule,
)
from .models import (
    QUANTITIES,
    DrlSet,
    DrlValue,
    EventMapping,
    MappingChange,
    MappingRule,
    MappingSource,
    StandardProcedure,
    StudyMapping,
)

logger = logging.getLogger(__name__)

BATCH = 500
PREVIEW_EXAMPLES = 100
_NAME_LENGTH = StudyMapping._meta.get_field("name").max_length


class ProcedureInvalid(ValueError):
    """A procedure that cannot be saved (name taken, unknown modality)."""


class NothingToCompute(ValueError):
    """No room had enough exams for a local DRL."""


# ---------------------------------------------------------------- rules as data


def _rule_from_row(row: MappingRule) -> Rule:
    return Rule(
        id=row.pk,
        procedure_id=row.procedure_id,
        level=row.level,
        modality=row.modality,
        device_id=row.device_id,
        conditions=tuple(
            Condition(
                field=str(c.get("field", "")), test=str(c.get("test", "")), value=str(c.get("value", ""))
            )
            for c in row.conditions or []
        ),
    )


def mapping_rules_active() -> list[Rule]:
    rows = MappingRule.objects.filter(active=True, procedure__active=True).order_by("level", "priority", "id")
    return [_rule_from_row(r) for r in rows]


# ---------------------------------------------------------------- facts from the dose records


@dataclass
class _Wanted:
    procedure_id: int | None
    rule_id: int | None
    source: str
    name_field: str = ""
    name: str = ""
    modality: str = ""


@dataclass
class _Evaluation:
    studies: dict[int, _Wanted] = field(default_factory=dict)
    study_updated: dict[int, datetime.datetime] = field(default_factory=dict)
    events: dict[int, tuple[int, _Wanted]] = field(default_factory=dict)  # event id -> (study id, wanted)


def _orders_by_study(rows: list[dict]) -> dict[int, dict]:
    """The order of each study, as ris.selectors.study_order picks it, in one query."""
    ids = [r["pk"] for r in rows]
    uids = [r["study_instance_uid"] for r in rows if r["study_instance_uid"]]
    accessions = [r["accession_number"] for r in rows if r["accession_number"]]
    undecided = Q(link_decided=False, study__isnull=True)
    orders = list(
        Order.objects.filter(
            Q(study_id__in=ids)
            | (undecided & Q(study_instance_uid__in=uids))
            | (undecided & Q(accession_number__in=accessions))
        )
        .order_by("-id")
        .values(
            "study_id",
            "link_decided",
            "study_instance_uid",
            "accession_number",
            "procedure_code",
            "procedure_text",
            "reason",
        )
    )
    linked: dict[int, dict] = {}
    by_uid: dict[str, dict] = {}
    by_accession: dict[str, dict] = {}
    for order in orders:  # newest first: setdefault keeps the newest
        if order["study_id"] is not None:
            linked.setdefault(order["study_id"], order)
        elif not order["link_decided"]:
            if order["study_instance_uid"]:
                by_uid.setdefault(order["study_instance_uid"], order)
            if order["accession_number"]:
                by_accession.setdefault(order["accession_number"], order)
    found = {}
    for r in rows:
        order = (
            linked.get(r["pk"])
            or by_uid.get(r["study_instance_uid"])
            or (by_accession.get(r["accession_number"]) if r["accession_number"] else None)
        )
        if order:
            found[r["pk"]] = order
    return found


def _facts(study_ids: list[int]) -> Iterator[tuple[dict, StudyFacts, list[tuple[int, EventFacts]]]]:
    rows = list(
        Study.objects.filter(pk__in=study_ids).values(
            "pk",
            "modality",
            "device_id",
            "study_description",
            "requested_procedure",
            "procedure_reported",
            "study_instance_uid",
            "accession_number",
            "updated_at",
        )
    )
    orders = _orders_by_study(rows)
    events_by_study: dict[int, list[dict]] = defaultdict(list)
    for e in (
        IrradiationEvent.objects.filter(study_id__in=study_ids)
        .order_by("study_id", "datetime_started", "position", "id")
        .values("pk", "study_id", "protocol", "target_region", "event_type", "details__anatomical_structure")
    ):
        events_by_study[e["study_id"]].append(e)
    for r in rows:
        order = orders.get(r["pk"]) or {}
        events = events_by_study.get(r["pk"], [])

        def values(key: str, events=events) -> frozenset[str]:
            return frozenset(str(e[key]) for e in events if e[key])

        facts = StudyFacts(
            modality=r["modality"] or "",
            device_id=r["device_id"],
            study_description=r["study_description"] or "",
            requested_procedure=r["requested_procedure"] or "",
            procedure_reported=r["procedure_reported"] or "",
            order_code=order.get("procedure_code") or "",
            order_text=order.get("procedure_text") or "",
            order_reason=order.get("reason") or "",
            protocol=values("protocol"),
            target_region=values("target_region"),
            body_part=values("details__anatomical_structure"),
            event_type=values("event_type"),
        )
        event_facts = (
            [
                (
                    e["pk"],
                    EventFacts(
                        study=facts,
                        protocol=e["protocol"] or "",
                        target_region=e["target_region"] or "",
                        body_part=str(e["details__anatomical_structure"] or ""),
                        event_type=e["event_type"] or "",
                    ),
                )
                for e in events
            ]
            if (r["modality"] or "").upper() == "CT"
            else []
        )
        yield r, facts, event_facts


def _evaluate(ruleset: RuleSet, study_ids: list[int]) -> _Evaluation:
    manual = dict(
        StudyMapping.objects.filter(study_id__in=study_ids, source=MappingSource.MANUAL).values_list(
            "study_id", "procedure_id"
        )
    )
    result = _Evaluation()
    for row, facts, event_facts in _facts(study_ids):
        name_field, name = inbox_name(facts)
        if row["pk"] in manual:
            wanted = _Wanted(manual[row["pk"]], None, MappingSource.MANUAL)
        else:
            match = ruleset.match_study(facts)
            wanted = (
                _Wanted(match.procedure_id, match.rule_id, MappingSource.RULE)
                if match
                else _Wanted(None, None, MappingSource.NONE)
            )
        wanted.name_field, wanted.name, wanted.modality = name_field, name[:_NAME_LENGTH], facts.modality[:8]
        result.studies[row["pk"]] = wanted
        result.study_updated[row["pk"]] = row["updated_at"]
        for event_id, ef in event_facts:
            match = ruleset.match_event(ef)
            _field, event_name = event_inbox_name(ef)
            if match:
                event_wanted = _Wanted(match.procedure_id, match.rule_id, MappingSource.RULE)
            elif is_localizer(ef.event_type):
                # Scouts are no DRL sequence: unmapped, and kept out of the inbox.
                event_wanted, event_name = _Wanted(None, None, MappingSource.NONE), ""
            elif wanted.procedure_id is not None:
                event_wanted = _Wanted(wanted.procedure_id, wanted.rule_id, MappingSource.STUDY)
            else:
                event_wanted = _Wanted(None, None, MappingSource.NONE)
            event_wanted.name = event_name[:_NAME_LENGTH]
            result.events[event_id] = (row["pk"], event_wanted)
    return result


def _chunks(ids: list[int], size: int = BATCH) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ---------------------------------------------------------------- storing mappings


@dataclass
class MappingResult:
    studies_checked: int = 0
    studies_changed: int = 0
    events_changed: int = 0

    def __iadd__(self, other: MappingResult) -> MappingResult:
        self.studies_checked += other.studies_checked
        self.studies_changed += other.studies_changed
        self.events_changed += other.events_changed
        return self


def _names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return dict(StandardProcedure.objects.filter(pk__in=wanted).values_list("pk", "name")) if wanted else {}


def _store(evaluation: _Evaluation, *, username: str, reason: str) -> MappingResult:
    result = MappingResult(studies_checked=len(evaluation.studies))
    now = timezone.now()
    existing = {m.study_id: m for m in StudyMapping.objects.filter(study_id__in=list(evaluation.studies))}
    new_rows, changed_rows, history = [], [], []
    procedure_ids = (
        {w.procedure_id for w in evaluation.studies.values()}
        | {m.procedure_id for m in existing.values()}
        | {w.procedure_id for _s, w in evaluation.events.values()}
    )
    names = _names(procedure_ids)
    for study_id, wanted in evaluation.studies.items():
        current = existing.get(study_id)
        if current is None:
            new_rows.append(
                StudyMapping(
                    study_id=study_id,
                    procedure_id=wanted.procedure_id,
                    rule_id=wanted.rule_id,
                    source=wanted.source,
                    modality=wanted.modality,
                    name_field=wanted.name_field,
                    name=wanted.name,
                    study_updated_at=evaluation.study_updated[study_id],
                    mapped_at=now,
                )
            )
            continue
        if current.procedure_id != wanted.procedure_id:
            result.studies_changed += 1
            history.append(
                MappingChange(
                    username=username,
                    reason=reason,
                    study_id=study_id,
                    old_procedure_id=current.procedure_id,
                    new_procedure_id=wanted.procedure_id,
                    old_name=names.get(current.procedure_id, ""),
                    new_name=names.get(wanted.procedure_id, ""),
                    rule_id=wanted.rule_id,
                )
            )
        fresh = (
            wanted.procedure_id,
            wanted.rule_id,
            wanted.source,
            wanted.modality,
            wanted.name_field,
            wanted.name,
            evaluation.study_updated[study_id],
        )
        stored = (
            current.procedure_id,
            current.rule_id,
            current.source,
            current.modality,
            current.name_field,
            current.name,
            current.study_updated_at,
        )
        if fresh != stored:
            (
                current.procedure_id,
                current.rule_id,
                current.source,
                current.modality,
                current.name_field,
                current.name,
                current.study_updated_at,
            ) = fresh
            current.mapped_at = now
            changed_rows.append(current)
    StudyMapping.objects.bulk_create(new_rows, ignore_conflicts=True)
    StudyMapping.objects.bulk_update(
        changed_rows,
        ["procedure", "rule", "source", "modality", "name_field", "name", "study_updated_at", "mapped_at"],
    )

    existing_events = {
        m.event_id: m for m in EventMapping.objects.filter(event_id__in=list(evaluation.events))
    }
    new_events, changed_events = [], []
    for event_id, (study_id, wanted) in evaluation.events.items():
        current = existing_events.get(event_id)
        if current is None:
            new_events.append(
                EventMapping(
                    event_id=event_id,
                    study_id=study_id,
                    procedure_id=wanted.procedure_id,
                    rule_id=wanted.rule_id,
                    source=wanted.source,
                    name=wanted.name,
                    mapped_at=now,
                )
            )
            continue
        if current.procedure_id != wanted.procedure_id:
            result.events_changed += 1
            history.append(
                MappingChange(
                    username=username,
                    reason=reason,
                    study_id=study_id,
                    event_id=event_id,
                    old_procedure_id=current.procedure_id,
                    new_procedure_id=wanted.procedure_id,
                    old_name=names.get(current.procedure_id, ""),
                    new_name=names.get(wanted.procedure_id, ""),
                    rule_id=wanted.rule_id,
                )
            )
        fresh = (wanted.procedure_id, wanted.rule_id, wanted.source, wanted.name)
        if fresh != (current.procedure_id, current.rule_id, current.source, current.name):
            current.procedure_id, current.rule_id, current.source, current.name = fresh
            current.mapped_at = now
            changed_events.append(current)
    EventMapping.objects.bulk_create(new_events, ignore_conflicts=True)
    EventMapping.objects.bulk_update(changed_events, ["procedure", "rule", "source", "name", "mapped_at"])
    MappingChange.objects.bulk_create(history)
    return result


def _stale_study_ids() -> list[int]:
    """Studies never mapped, changed since they were mapped, or CT studies with an unmapped event."""
    unmapped_event = IrradiationEvent.objects.filter(study_id=OuterRef("pk"), drl_mapping__isnull=True)
    return list(
        Study.objects.filter(
            Q(drl_mapping__isnull=True)
            | Q(updated_at__gt=F("drl_mapping__study_updated_at"))
            | Q(drl_mapping__study_updated_at__isnull=True)
            | (Q(modality="CT") & Exists(unmapped_event))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def mapping_refresh(
    *,
    study_ids: Iterable[int] | None = None,
    everything: bool = False,
    username: str = "system",
    reason: str = "study new or changed",
) -> MappingResult:
    """Map the given studies, or all (everything), or those new or changed since mapped; idempotent."""
    ruleset = RuleSet(mapping_rules_active())
    if everything:
        ids = list(Study.objects.order_by("pk").values_list("pk", flat=True))
    elif study_ids is not None:
        ids = sorted(set(study_ids))
    else:
        ids = _stale_study_ids()
    result = MappingResult()
    for chunk in _chunks(ids):
        with transaction.atomic():
            result += _store(_evaluate(ruleset, chunk), username=username, reason=reason)
    if result.studies_changed or result.events_changed:
        logger.info("procedure mapping: %s", result)
    return result


# ---------------------------------------------------------------- preview


@dataclass(frozen=True)
class PreviewChange:
    study_id: int
    event_id: int | None
    name: str
    old: str
    new: str


@dataclass
class Preview:
    studies_changed: int = 0
    events_changed: int = 0
    examples: list[PreviewChange] = field(default_factory=list)


def _preview(rules: list[Rule]) -> Preview:
    ruleset = RuleSet(rules)
    preview = Preview()
    ids = list(Study.objects.order_by("pk").values_list("pk", flat=True))
    for chunk in _chunks(ids):
        evaluation = _evaluate(ruleset, chunk)
        current = dict(
            StudyMapping.objects.filter(study_id__in=chunk).values_list("study_id", "procedure_id")
        )
        current_events = dict(
            EventMapping.objects.filter(study_id__in=chunk).values_list("event_id", "procedure_id")
        )
        diffs: list[tuple[int, int | None, str, int | None, int | None]] = []
        for study_id, wanted in evaluation.studies.items():
            old = current.get(study_id)
            if old != wanted.procedure_id:
                preview.studies_changed += 1
                diffs.append((study_id, None, wanted.name, old, wanted.procedure_id))
        for event_id, (study_id, wanted) in evaluation.events.items():
            old = current_events.get(event_id)
            if old != wanted.procedure_id:
                preview.events_changed += 1
                diffs.append((study_id, event_id, wanted.name, old, wanted.procedure_id))
        room = PREVIEW_EXAMPLES - len(preview.examples)
        if room > 0 and diffs:
            names = _names([d[3] for d in diffs[:room]] + [d[4] for d in diffs[:room]])
            preview.examples += [
                PreviewChange(s, e, n, names.get(o, ""), names.get(w, "")) for s, e, n, o, w in diffs[:room]
            ]
    return preview


def mapping_rule_preview(
    *,
    rule_id: int | None = None,
    procedure_id: int,
    level: str,
    conditions: list[dict],
    modality: str = "",
    device_id: int | None = None,
    priority: int = 100,
    active: bool = True,
) -> Preview:
    """What saving this rule (new, or a change of rule_id) would change, without saving anything."""
    candidate = validate_rule(_candidate(rule_id, procedure_id, level, conditions, modality, device_id))
    rows = list(
        MappingRule.objects.filter(active=True, procedure__active=True)
        .exclude(pk=rule_id)
        .order_by("level", "priority", "id")
    )
    ordered: list[tuple[int, int, Rule]] = [(r.priority, r.pk, _rule_from_row(r)) for r in rows]
    if active:
        # A new rule goes after the existing rules of the same priority, as it will when saved.
        ordered.append((priority, rule_id or 2**62, candidate))
    ordered.sort(key=lambda item: (item[0], item[1]))
    return _preview([rule for _p, _id, rule in ordered])


def mapping_rule_delete_preview(*, rule_id: int) -> Preview:
    rules = [r for r in mapping_rules_active() if r.id != rule_id]
    return _preview(rules)


# ---------------------------------------------------------------- rule changes


@dataclass
class RuleChange:
    rule: MappingRule | None
    result: MappingResult


def _candidate(rule_id, procedure_id, level, conditions, modality, device_id) -> Rule:
    return Rule(
        id=rule_id,
        procedure_id=procedure_id,
        level=level,
        modality=(modality or "").upper(),
        device_id=device_id,
        conditions=tuple(
            Condition(field=c["field"], test=c["test"], value=" ".join(str(c["value"]).split()))
            for c in conditions
        ),
    )


def _clean_conditions(rule: Rule) -> list[dict]:
    return [{"field": c.field, "test": c.test, "value": c.value} for c in rule.conditions]


def mapping_rule_add(
    *,
    procedure_id: int,
    level: str,
    conditions: list[dict],
    modality: str = "",
    device_id: int | None = None,
    priority: int = 100,
    note: str = "",
    active: bool = True,
    username: str,
) -> RuleChange:
    """Add a rule and re-evaluate every study. Raises RuleInvalid."""
    rule = validate_rule(_candidate(None, procedure_id, level, conditions, modality, device_id))
    if not StandardProcedure.objects.filter(pk=procedure_id).exists():
        raise RuleInvalid("unknown procedure")
    with transaction.atomic():
        row = MappingRule.objects.create(
            procedure_id=procedure_id,
            level=level,
            conditions=_clean_conditions(rule),
            modality=rule.modality,
            device_id=device_id,
            priority=priority,
            note=note,
            active=active,
            created_by=username,
        )
        result = mapping_refresh(everything=True, username=username, reason=f"rule #{row.pk} added")
        audit_record(
            action="create",
            object_type="mapping rule",
            object_id=row.pk,
            username=username,
            summary=f"Mapping rule added: {row}; {result.studies_changed} studies remapped",
        )
    return RuleChange(row, result)


def mapping_rule_change(
    *,
    rule_id: int,
    procedure_id: int,
    level: str,
    conditions: list[dict],
    modality: str = "",
    device_id: int | None = None,
    priority: int = 100,
    note: str = "",
    active: bool = True,
    username: str,
) -> RuleChange:
    """Change a rule and re-evaluate every study. Raises RuleInvalid, MappingRule.DoesNotExist."""
    rule = validate_rule(_candidate(rule_id, procedure_id, level, conditions, modality, device_id))
    with transaction.atomic():
        row = MappingRule.objects.select_for_update().get(pk=rule_id)
        before = str(row)
        row.procedure_id, row.level, row.conditions = procedure_id, level, _clean_conditions(rule)
        row.modality, row.device_id, row.priority, row.note, row.active = (
            rule.modality,
            device_id,
            priority,
            note,
            active,
        )
        row.save()
        result = mapping_refresh(everything=True, username=username, reason=f"rule #{row.pk} changed")
        audit_record(
            action="change",
            object_type="mapping rule",
            object_id=row.pk,
            username=username,
            summary=f"Mapping rule changed: {before} → {row}; {result.studies_changed} studies remapped",
        )
    return RuleChange(row, result)


def mapping_rule_delete(*, rule_id: int, username: str) -> RuleChange:
    """Delete a rule and re-evaluate every study. Raises MappingRule.DoesNotExist."""
    with transaction.atomic():
        row = MappingRule.objects.select_for_update().get(pk=rule_id)
        text = str(row)
        row.delete()
        result = mapping_refresh(everything=True, username=username, reason=f"rule #{rule_id} deleted")
        audit_record(
            action="delete",
            object_type="mapping rule",
            object_id=rule_id,
            username=username,
            summary=f"Mapping rule deleted: {text}; {result.studies_changed} studies remapped",
        )
    return RuleChange(None, result)


@dataclass(frozen=True)
class InboxName:
    modality: str
    field: str
    name: str


def mapping_bulk_apply(
    *, names: list[InboxName], procedure_id: int, level: str = "study", username: str
) -> RuleChange:
    """Map inbox names to a procedure: one exact-match rule per name (so later studies follow), then re-evaluate."""
    if not names:
        raise RuleInvalid("choose at least one name")
    if not StandardProcedure.objects.filter(pk=procedure_id).exists():
        raise RuleInvalid("unknown procedure")
    with transaction.atomic():
        rules = []
        for item in names:
            rule = validate_rule(
                _candidate(
                    None,
                    procedure_id,
                    level,
                    [{"field": item.field, "test": "exact", "value": item.name}],
                    item.modality if level == "study" else "CT",
                    None,
                )
            )
            rules.append(
                MappingRule.objects.create(
                    procedure_id=procedure_id,
                    level=level,
                    conditions=_clean_conditions(rule),
                    modality=rule.modality,
                    priority=100,
                    note="bulk apply from the inbox",
                    created_by=username,
                )
            )
        result = mapping_refresh(everything=True, username=username, reason="bulk apply from the inbox")
        audit_record(
            action="create",
            object_type="mapping rule",
            object_id=",".join(str(r.pk) for r in rules),
            username=username,
            summary=f"Bulk apply: {len(rules)} names → procedure {procedure_id}; "
            f"{result.studies_changed} studies, {result.events_changed} events remapped",
        )
    return RuleChange(rules[-1], result)


def study_mapping_set(*, study_id: int, procedure_id: int | None, username: str) -> MappingResult:
    """Map one study by hand (procedure_id None: hand it back to the rules). Raises Study.DoesNotExist."""
    Study.objects.only("pk").get(pk=study_id)
    with transaction.atomic():
        mapping_refresh(study_ids=[study_id], username=username)
        mapping = StudyMapping.objects.select_for_update().get(study_id=study_id)
        if procedure_id is None:
            mapping.source = MappingSource.NONE
            mapping.decided_by = ""
            mapping.save(update_fields=["source", "decided_by"])
            reason = "handed back to the rules"
        else:
            StandardProcedure.objects.only("pk").get(pk=procedure_id)
            old = mapping.procedure_id
            names = _names([old, procedure_id])
            if old != procedure_id:
                MappingChange.objects.create(
                    username=username,
                    reason="mapped by hand",
                    study_id=study_id,
                    old_procedure_id=old,
                    new_procedure_id=procedure_id,
                    old_name=names.get(old, ""),
                    new_name=names[procedure_id],
                )
            mapping.procedure_id, mapping.source, mapping.rule_id, mapping.decided_by = (
                procedure_id,
                MappingSource.MANUAL,
                None,
                username,
            )
            mapping.save()
            reason = "mapped by hand"
        result = mapping_refresh(study_ids=[study_id], username=username, reason=reason)
        audit_record(
            action="change",
            object_type="study",
            object_id=study_id,
            username=username,
            summary=f"Standard procedure of study {study_id}: {reason}",
        )
    return result


# ---------------------------------------------------------------- catalogue


def standard_procedure_save(
    *,
    procedure_id: int | None = None,
    name: str,
    modality: str,
    body_region: str = "",
    radlex_playbook_id: str = "",
    active: bool = True,
    notes: str = "",
    username: str,
) -> StandardProcedure:
    """Add (procedure_id None) or change a procedure. Raises ProcedureInvalid, StandardProcedure.DoesNotExist."""
    name = " ".join(name.split())
    if not name:
        raise ProcedureInvalid("the name is empty")
    if StandardProcedure.objects.filter(name__iexact=name).exclude(pk=procedure_id).exists():
        raise ProcedureInvalid(f"a procedure named {name!r} exists")
    with transaction.atomic():
        if procedure_id is None:
            procedure = StandardProcedure(name=name)
        else:
            procedure = StandardProcedure.objects.select_for_update().get(pk=procedure_id)
        was_active = procedure.active
        procedure.name, procedure.modality, procedure.body_region = name, modality, body_region.strip()
        procedure.radlex_playbook_id = radlex_playbook_id.strip().upper()
        procedure.active, procedure.notes = active, notes
        procedure.save()
        audit_record(
            action="create" if procedure_id is None else "change",
            object_type="standard procedure",
            object_id=procedure.pk,
            username=username,
            summary=f"Standard procedure saved: {procedure}",
        )
        if procedure_id is not None and was_active != active:
            # Rules of an inactive procedure are not used: re-evaluate.
            mapping_refresh(
                everything=True,
                username=username,
                reason=f"procedure {procedure.name} {'enabled' if active else 'disabled'}",
            )
    return procedure


# ---------------------------------------------------------------- local DRLs


ADULT_MIN_AGE_YEARS = 18.0
# Standard-sized adults when the weight is known (DOMAIN.md §7).
STANDARD_WEIGHT_KG = (50.0, 90.0)


@dataclass
class LocalComputation:
    drl_set: DrlSet
    skipped: list[str]


def _keep_patient(age: float | None, weight: float | None, *, standard_size_only: bool) -> bool:
    if age is not None and age < ADULT_MIN_AGE_YEARS:
        return False
    if (
        standard_size_only
        and weight is not None
        and not STANDARD_WEIGHT_KG[0] <= weight <= STANDARD_WEIGHT_KG[1]
    ):
        return False
    return True


def _in_review(details: dict | None, name: str) -> bool:
    return name in ((details or {}).get("review") or [])


def drl_local_compute(
    *,
    name: str,
    date_from: datetime.date,
    date_to: datetime.date,
    min_per_room: int = 20,
    standard_size_only: bool = True,
    device_ids: list[int] | None = None,
    username: str,
) -> LocalComputation:
    """Local DRLs (75th percentile of room medians) and typical values (their median), saved as a local set.

    Patient studies only (rdsr.selectors.patient_studies), adults (age unknown
    or at least 18), with standard_size_only those of known weight outside
    50–90 kg left out; values in review are out of the study totals already and
    event values in review are skipped. Per exam: DLP (CT), DAP (radiography,
    fluoroscopy, interventional), fluoroscopy time; per CT sequence: CTDIvol by
    phantom; per mammographic view: AGD. Raises NothingToCompute.
    """
    studies = patient_studies().filter(
        study_date__gte=date_from,
        study_date__lte=date_to,
        drl_mapping__procedure__isnull=False,
        device__isnull=False,
    )
    if device_ids:
        studies = studies.filter(device_id__in=device_ids)
    # (procedure id, quantity, level, phantom) -> device id -> values
    samples: dict[tuple[int, str, str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    exam_fields = {
        "CT": [("dlp", "dlp_total_mgycm")],
        "DX": [("dap", "dap_total_gycm2")],
        "RF": [("dap", "dap_total_gycm2"), ("fluoro_time", "fluoro_time_total_s")],
        "XA": [("dap", "dap_total_gycm2"), ("fluoro_time", "fluoro_time_total_s")],
    }
    for s in studies.values(
        "pk",
        "device_id",
        "age_years",
        "weight_kg",
        "drl_mapping__procedure_id",
        "drl_mapping__procedure__modality",
        "dlp_total_mgycm",
        "dap_total_gycm2",
        "fluoro_time_total_s",
    ):
        if not _keep_patient(s["age_years"], s["weight_kg"], standard_size_only=standard_size_only):
            continue
        for quantity, column in exam_fields.get(s["drl_mapping__procedure__modality"], []):
            if s[column] is not None:
                samples[(s["drl_mapping__procedure_id"], quantity, "exam", "")][s["device_id"]].append(
                    s[column]
                )
    events = IrradiationEvent.objects.filter(study__in=studies)
    for e in events.filter(drl_mapping__procedure__isnull=False, ctdivol_mgy__isnull=False).values(
        "study__device_id",
        "study__age_years",
        "study__weight_kg",
        "drl_mapping__procedure_id",
        "ctdivol_mgy",
        "phantom",
        "event_type",
        "details",
    ):
        if is_localizer(e["event_type"]) or _in_review(e["details"], "ctdivol_mgy"):
            continue
        if _keep_patient(e["study__age_years"], e["study__weight_kg"], standard_size_only=standard_size_only):
            key = (e["drl_mapping__procedure_id"], "ctdivol", "sequence", e["phantom"] or "")
            samples[key][e["study__device_id"]].append(e["ctdivol_mgy"])
    for e in events.filter(study__drl_mapping__procedure__modality="MG", agd_mgy__isnull=False).values(
        "study__device_id",
        "study__age_years",
        "study__weight_kg",
        "study__drl_mapping__procedure_id",
        "agd_mgy",
        "details",
    ):
        if _in_review(e["details"], "agd_mgy"):
            continue
        if _keep_patient(e["study__age_years"], e["study__weight_kg"], standard_size_only=standard_size_only):
            key = (e["study__drl_mapping__procedure_id"], "agd", "view", "")
            samples[key][e["study__device_id"]].append(e["agd_mgy"])

    results, skipped = [], []
    names = _names(k[0] for k in samples)
    for key, by_room in sorted(samples.items(), key=lambda item: (names.get(item[0][0], ""), item[0][1:])):
        computed = local_drl(by_room, min_per_room=min_per_room)
        label = f"{names.get(key[0], key[0])} {QUANTITIES[key[1]][0]}"
        if computed is None:
            skipped.append(f"{label}: no room with {min_per_room} exams")
        else:
            results.append((key, computed))
    if not results:
        raise NothingToCompute(
            f"no procedure had a room with at least {min_per_room} exams between {date_from} and {date_to}"
        )
    now = timezone.now()
    with transaction.atomic():
        drl_set = DrlSet.objects.create(
            name=name.strip() or "Local DRLs",
            kind=DrlSet.Kind.LOCAL,
            jurisdiction="local",
            source=f"Computed from our own patient studies {date_from} to {date_to}: 75th percentile (DRL) and "
            f"median (typical value) of room medians, at least {min_per_room} exams per room"
            + (", weight 50–90 kg where known" if standard_size_only else "")
            + ", adults.",
            version=timezone.localtime(now).strftime("%Y-%m-%d %H:%M:%S"),
            valid_from=timezone.localdate(now),
            created_by=username,
        )
        DrlValue.objects.bulk_create(
            DrlValue(
                drl_set=drl_set,
                procedure_id=procedure_id,
                quantity=quantity,
                unit=QUANTITIES[quantity][1],
                level=level,
                phantom=phantom,
                value=computed.drl,
                typical_value=computed.typical,
                rooms=computed.rooms,
                exams=computed.exams,
                patient_group=DrlValue.PatientGroup.ADULT,
                weight_min_kg=None,
                weight_max_kg=None,
            )
            for (procedure_id, quantity, level, phantom), computed in results
        )
        audit_record(
            action="create",
            object_type="drl set",
            object_id=drl_set.pk,
            username=username,
            summary=f"Local DRLs computed: {drl_set} ({len(results)} values)",
        )
    return LocalComputation(drl_set, skipped)
