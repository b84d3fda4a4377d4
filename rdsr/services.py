"""Writing normalised dose records (rdsr.record) into the dose models.

`dose_record_store` is the only writer of Patient, Device, Study, DoseObject,
IrradiationEvent and PlaneAccumulation rows. It is idempotent (storing the same
record again changes nothing), safe when two workers store objects of one study
at once (the study row is the per-study lock), and issues a fixed number of
queries whatever the number of events (writes are batched).

Rules, each one a decision a physicist can check:

Patient
    Matched on (patient_id, issuer_of_patient_id). A record without a patient
    ID gets no patient (``study.patient`` stays None) rather than a shared
    "unknown" row that would merge strangers. Known values are never
    overwritten, only blanks filled: the RIS feed is the master. An ID the
    RIS merged away or changed (rdsr.PatientAlias) finds the surviving patient.
    Most DICOM objects state no issuer while the RIS always does: a record
    without an issuer takes the one patient (or alias) with that ID whatever
    its issuer; with two of them it is not guessed and gets a row of its own.
Device
    One row per physical device: ``identity_key`` is the Device Observer UID
    when the object has one, else "manufacturer|model|station|serial",
    lower-cased with whitespace collapsed. A record with none of these gets no
    device. Known values are never overwritten. One room's RDSRs (with the
    UID) and image headers (without) are one device: an object without the
    UID joins the single device of the same four names that has one, and an
    object with the UID takes over the single device known by the names only.
Study
    Found or created on Study Instance UID; the row is locked (SELECT ... FOR
    UPDATE on PostgreSQL, the IMMEDIATE write transaction on SQLite) for the
    rest of the store, so two objects of one study are merged one after the
    other. Descriptive fields fill blanks only; totals are recomputed.
Events
    De-duplicated on Irradiation Event UID within the study (cumulative objects
    repeat earlier events, continuation objects add new ones: the study holds
    the union). Events without a UID are keyed on (source SOP Instance UID,
    position in that object), position counting from 1. When an event arrives
    again from a better source kind (rdsr.record.SOURCE_PRECEDENCE) it takes
    over the stored row; when the same object is stored again with different
    values (a re-parse) its own events are updated; otherwise the first stored
    copy is kept.
Which events count
    Only events of the best source kind present in the study count towards
    its totals (rdsr > image header > MPPS > OCR > manual), so that an image
    header or an OCR'd screen of an RDSR study is never added to the RDSR's
    values; ``Study.source_kind`` says which kind is in use.
Totals on the study
    ``event_count`` counts the counted events. Every other total is, in this
    order:
    1. the sum over the counted events, when every event it covers carries a
       trusted value;
    2. else the value stated by the most complete dose object (the one of the
       best kind with the most events; of equally complete ones the latest),
       when it states one;
    3. else the sum of the values that are there (a study warning says so).
    A value in an event's ``review`` list (unknown or implausible unit) is
    never added: the total is the sum of the other events, and a study warning
    names the quantity. Stated totals are never used to fill such a gap, since
    they come from the same doubtful source.
    CT: ``dlp_total_mgycm`` from event DLP. Projection X-ray:
    ``dap_total_gycm2`` from event DAP (all planes: DAP adds up),
    ``fluoro_time_total_s`` from the irradiation duration of fluoroscopy
    events (never their exposure time, which for pulsed fluoroscopy is the
    beam-on time only). Mammography: ``agd_left_mgy`` / ``agd_right_mgy`` from
    the events of each breast.
Plane rows (PlaneAccumulation)
    One row per plane; Ka,r is never added across planes. When the most
    complete object carried every counted event of the study (a single object,
    or the last of a cumulative series), its stated plane totals are used,
    since the modality accumulates them from unrounded values (Siemens Zee
    states 2.52 mGy for events given as 0.14 + 0.19 + ... = 2.49 mGy);
    quantities it does not state, or for which an event value is under review,
    follow the three steps above over that plane's events. Otherwise (e.g.
    continuation objects, none of which saw every event) every quantity
    follows the three steps. Fluoroscopy events are those whose event type is
    Fluoroscopy; fluoroscopy/acquisition times add up irradiation durations;
    frames add up the acquisition events' ``frames``.
Stated totals
    Each DoseObject keeps what it states and the same quantities summed over
    its own events; the study gets a warning when the two differ by more than
    1 % and by more than the rounding of the values explains (half a unit of
    the last digit each value is given to). ``Study.stated_totals`` is the
    statement of the most complete object: ``{"sop_instance_uid", "kind",
    "events_in_object", "ct_totals": {...}, "planes": [{...}],
    "mammo_totals": {...}}``.
Study warnings
    Recomputed on every store from the whole study, so they describe the
    current state and storing twice adds nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from . import record as rec
from .bulk import rows_update
from .models import Device, DoseObject, IrradiationEvent, Patient, PatientAlias, PlaneAccumulation, Study
from .non_patient import Rule
from .non_patient_services import non_patient_rules_active, study_non_patient_classify

logger = logging.getLogger(__name__)

# Stated and recomputed totals within this relative difference agree (rounding).
AGREEMENT_TOLERANCE = 0.01
_ATTEMPTS = 3
# Database errors another attempt can cure; the batch store never swallows them.
_RETRYABLE = (OperationalError, InterfaceError, IntegrityError)
_DOSE_OBJECT_FIELDS = [
    "sop_class_uid",
    "kind",
    "dose_information_source",
    "content_datetime",
    "event_count",
    "stated_totals",
    "event_sums",
]
_UNRANKED = max(rec.SOURCE_PRECEDENCE.values()) + 1


class RecordNotStorable(ValueError):
    """The record cannot become a study (not a dose record, no Study Instance UID, ...)."""


@dataclass
class StoreResult:
    study: Study
    created_study: bool
    events_added: int
    events_existing: int


def dose_record_store(*, record: rec.DoseRecord) -> StoreResult:
    """Write one dose record into its study; idempotent and safe under concurrency."""
    study_uid, sop_uid = _storable_keys(record)
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                return _store(record, study_uid=study_uid, sop_uid=sop_uid)
        except IntegrityError:
            # Another worker created the same patient/device/study between our
            # read and our write; the next attempt finds its row.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def study_totals_refresh(*, study_id: int) -> Study:
    """Recompute a study's totals and plane rows from its stored events.

    For writers that change stored events in place (a confirmed or corrected
    OCR value, a value taken out of review): same rules as a store, same lock.
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        events = list(IrradiationEvent.objects.filter(study=study).order_by())
        objects = list(DoseObject.objects.filter(study=study).order_by())
        totals = _study_totals([_facts_of_row(ev) for ev in events], objects, modality=study.modality)
        _planes_sync(study, totals.planes)
        changed = _study_apply_totals(study, totals)
        if changed:
            study.save(update_fields=[*changed, "updated_at"])
    return study


def dose_object_sums_refresh(*, study: Study, sop_instance_uid: str) -> None:
    """Recompute what one stored object's own events add up to (DoseObject.event_sums).

    For writers that change stored events in place, before study_totals_refresh:
    the sums are what the object's stated totals are compared with. Call it
    inside the caller's transaction, with the study locked.
    """
    obj = DoseObject.objects.select_for_update().filter(study=study, sop_instance_uid=sop_instance_uid).first()
    if obj is None:
        return
    rows = IrradiationEvent.objects.filter(study=study, source_sop_instance_uid=sop_instance_uid).order_by(
        "position")
    sums = _event_sums([_facts_of_row(row) for row in rows], modality=study.modality or "CT")
    if sums != obj.event_sums:
        obj.event_sums = sums
        obj.save(update_fields=["event_sums"])


def dose_records_store(*, records: list[rec.DoseRecord]) -> list[StoreResult | Exception]:
    """Store several records in one transaction, with the same rules as `dose_record_store`.

    Returns, per record and in order, its StoreResult, or the exception that
    kept it out (RecordNotStorable, or another non-database error), so one bad
    record never fails its neighbours. Retryable database errors (connection
    lost, a deadlock) propagate: the whole batch can be stored again, idempotently.

    The statements do not grow with the number of records (but for patient or
    device details filled in later): the studies are inserted and locked in
    Study Instance UID order, so two workers storing overlapping batches wait
    for each other instead of deadlocking; then one read each of the studies'
    events, dose objects and planes, and one bulk write of each.
    """
    results: list[StoreResult | Exception | None] = [None] * len(records)
    keyed: list[tuple[int, rec.DoseRecord, str, str]] = []
    for index, record in enumerate(records):
        try:
            study_uid, sop_uid = _storable_keys(record)
        except RecordNotStorable as exc:
            results[index] = exc
            continue
        keyed.append((index, record, study_uid, sop_uid))
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                stored = _store_many(keyed)
            break
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
        except _BatchNotStorable as exc:
            # Something in one record trips the store: store them one by one,
            # so that record fails alone with the error it gives by itself.
            logger.info("storing %d records together failed (%s); storing them one by one", len(keyed), exc)
            stored = _store_one_by_one(keyed)
            break
    for index, result in stored.items():
        results[index] = result
    return [r if r is not None else RecordNotStorable("not stored") for r in results]


class _BatchNotStorable(Exception):
    pass


def _store_one_by_one(
    keyed: list[tuple[int, rec.DoseRecord, str, str]],
) -> dict[int, StoreResult | Exception]:
    stored: dict[int, StoreResult | Exception] = {}
    for index, record, _, _ in keyed:
        try:
            stored[index] = dose_record_store(record=record)
        except _RETRYABLE:
            raise
        except Exception as exc:
            stored[index] = exc
    return stored


def _store_many(keyed: list[tuple[int, rec.DoseRecord, str, str]]) -> dict[int, StoreResult | Exception]:
    if not keyed:
        return {}
    try:
        return _store_many_unguarded(keyed)
    except _RETRYABLE:
        raise
    except Exception as exc:
        # Rolls the batch back (we are inside its transaction).
        raise _BatchNotStorable(f"{type(exc).__name__}: {exc}") from exc


def _store_many_unguarded(keyed: list[tuple[int, rec.DoseRecord, str, str]]) -> dict[int, StoreResult]:
    # Lock order as in `_store`: studies, then patients, then devices.
    studies, created = _studies_lock(sorted({study_uid for _, _, study_uid, _ in keyed}))
    patients = _patients_upsert([record.patient for _, record, _, _ in keyed])
    devices = _devices_upsert([record.device for _, record, _, _ in keyed])

    study_ids = [s.pk for s in studies.values()]
    events: dict[int, list[IrradiationEvent]] = {pk: [] for pk in study_ids}
    objects: dict[int, list[DoseObject]] = {pk: [] for pk in study_ids}
    planes: dict[int, list[PlaneAccumulation]] = {pk: [] for pk in study_ids}
    # A study this transaction created has no rows yet (nobody else sees it
    # before we commit): only the others are read.
    known_ids = [s.pk for uid, s in studies.items() if uid not in created]
    if known_ids:
        for ev in IrradiationEvent.objects.filter(study_id__in=known_ids).order_by():
            events[ev.study_id].append(ev)
        for obj in DoseObject.objects.filter(study_id__in=known_ids).order_by():
            objects[obj.study_id].append(obj)
        for plane in PlaneAccumulation.objects.filter(study_id__in=known_ids).order_by():
            planes[plane.study_id].append(plane)

    new_events: list[IrradiationEvent] = []
    changed_events: dict[int, IrradiationEvent] = {}
    changed_objects: dict[int, DoseObject] = {}
    new_objects: list[DoseObject] = []
    described: dict[int, set[str]] = {pk: set() for pk in study_ids}
    rules = non_patient_rules_active()  # once per batch, not per record
    last_record: dict[int, rec.DoseRecord] = {}
    results: dict[int, StoreResult] = {}
    for index, record, study_uid, sop_uid in keyed:
        study = studies[study_uid]
        patient_key, known = _patient_values(record.patient)
        patient = patients.get(tuple(patient_key.values())) if patient_key else None
        if patient is not None:
            _fill_blanks(patient, known)
        device_key, known = _device_values(record.device)
        device = devices.get(device_key) if device_key else None
        if device is not None:
            _fill_blanks(device, known)
        incoming = _incoming_events(record, study=study, sop_uid=sop_uid)
        new, changed = _events_plan(incoming, events[study.pk], sop_uid=sop_uid)
        new_events += new
        # Rows inserted by this batch are written with their latest values anyway.
        changed_events.update((ev.pk, ev) for ev in changed if ev.pk is not None)
        row, fields = _dose_object_plan(
            record, study=study, sop_uid=sop_uid, incoming=incoming, objects=objects[study.pk]
        )
        if row.pk is None:
            if not any(row is o for o in new_objects):
                new_objects.append(row)
        elif fields:
            changed_objects[row.pk] = row
        described[study.pk].update(_study_describe(study, record, patient=patient, device=device))
        described[study.pk].update(
            study_non_patient_classify(study, patient=_study_patient(study, patient), rules=rules)
        )
        last_record[study.pk] = record
        results[index] = StoreResult(
            study=study,
            created_study=study_uid in created,
            events_added=len(new),
            events_existing=len(incoming) - len(new),
        )
        # Only the first record of a study new to the database created it.
        created.discard(study_uid)

    if new_events:
        IrradiationEvent.objects.bulk_create(new_events, batch_size=1000)
    if changed_events:
        rows_update(model=IrradiationEvent, rows=list(changed_events.values()), fields=_EVENT_UPDATE_FIELDS)
    if new_objects:
        # Ids in insertion order: the totals take the latest of equally complete objects.
        DoseObject.objects.bulk_create(new_objects)
    if changed_objects:
        rows_update(model=DoseObject, rows=list(changed_objects.values()), fields=_DOSE_OBJECT_FIELDS)

    new_planes: list[PlaneAccumulation] = []
    changed_planes: list[PlaneAccumulation] = []
    stale_planes: list[PlaneAccumulation] = []
    changed_studies: list[Study] = []
    study_fields: set[str] = set()
    for pk, record in last_record.items():
        study = next(s for s in studies.values() if s.pk == pk)
        totals = _study_totals(
            [_facts_of_row(ev) for ev in events[pk]], objects[pk], modality=_study_modality(study, record)
        )
        new, changed, stale = _planes_plan(study, totals.planes, planes[pk])
        new_planes += new
        changed_planes += changed
        stale_planes += stale
        fields = described[pk] | set(_study_apply_totals(study, totals))
        if fields:
            study.updated_at = timezone.now()
            changed_studies.append(study)
            study_fields |= fields
    if new_planes:
        PlaneAccumulation.objects.bulk_create(new_planes)
    if changed_planes:
        rows_update(model=PlaneAccumulation, rows=changed_planes, fields=_PLANE_FIELDS)
    if stale_planes:
        PlaneAccumulation.objects.filter(pk__in=[p.pk for p in stale_planes]).delete()
    if changed_studies:
        rows_update(model=Study, rows=changed_studies, fields=sorted(study_fields | {"updated_at"}))
    return results


def _studies_lock(study_uids: list[str]) -> tuple[dict[str, Study], set[str]]:
    """Insert the missing studies and lock all, in UID order; return them and the UIDs we created."""
    fresh = [Study(study_instance_uid=uid) for uid in study_uids]
    # ON CONFLICT DO NOTHING: rows that exist, or that another worker is
    # inserting (we wait for it, in the same UID order), stay theirs.
    Study.objects.bulk_create(fresh, ignore_conflicts=True)
    ours = {s.study_instance_uid: s.created_at for s in fresh}
    locked = (
        Study.objects.select_for_update()
        .filter(study_instance_uid__in=study_uids)
        .order_by("study_instance_uid")
    )
    studies = {s.study_instance_uid: s for s in locked}
    # A row carrying the very timestamp we gave it is the one we inserted.
    created = {uid for uid, s in studies.items() if s.created_at == ours[uid]}
    return studies, created


def _patients_upsert(people: list[rec.Patient]) -> dict[tuple[str, str], Patient]:
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for person in people:
        keys, known = _patient_values(person)
        if keys is not None:
            wanted.setdefault((keys["patient_id"], keys["issuer_of_patient_id"]), known)
    if not wanted:
        return {}

    def read(keys) -> dict[tuple[str, str], Patient]:
        rows = Patient.objects.filter(patient_id__in=sorted({pid for pid, _ in keys})).order_by()
        return {
            (p.patient_id, p.issuer_of_patient_id): p
            for p in rows
            if (p.patient_id, p.issuer_of_patient_id) in keys
        }

    found = read(wanted)
    missing = sorted(set(wanted) - set(found))
    if any(not issuer for _, issuer in missing):
        found.update(_patients_any_issuer([key for key in missing if not key[1]]))
        missing = [key for key in missing if key not in found]
    if missing:
        # An identifier merged away or changed by the RIS finds the surviving patient.
        found.update(_patient_aliases(missing))
        missing = [key for key in missing if key not in found]
    if missing:
        Patient.objects.bulk_create(
            [
                Patient(patient_id=pid, issuer_of_patient_id=issuer, **wanted[(pid, issuer)])
                for pid, issuer in missing
            ],
            ignore_conflicts=True,
        )
        found.update(read(set(missing)))
    return found


def _devices_upsert(devices: list[rec.Device]) -> dict[str, Device]:
    wanted: dict[str, dict[str, Any]] = {}
    for device in devices:
        key, known = _device_values(device)
        if key:
            wanted.setdefault(key, known)
    if not wanted:
        return {}
    found = {d.identity_key: d for d in Device.objects.filter(identity_key__in=sorted(wanted)).order_by()}
    found.update(_devices_same_room({k: v for k, v in wanted.items() if k not in found}))
    missing = sorted(set(wanted) - set(found))
    if missing:
        Device.objects.bulk_create(
            [Device(identity_key=key, **wanted[key]) for key in missing], ignore_conflicts=True
        )
        found.update((d.identity_key, d) for d in Device.objects.filter(identity_key__in=missing).order_by())
    return found


def _storable_keys(record: rec.DoseRecord) -> tuple[str, str]:
    if not record.is_dose:
        raise RecordNotStorable("not a dose record (kind 'not-dose')")
    study_uid = _text(record.study.study_instance_uid)
    if not study_uid:
        raise RecordNotStorable("the object has no Study Instance UID")
    if len(study_uid) > 64:
        raise RecordNotStorable(f"Study Instance UID longer than 64 characters: {study_uid[:80]}")
    sop_uid = _text(record.source.sop_instance_uid)
    if not sop_uid:
        raise RecordNotStorable(
            "the object has no SOP Instance UID, so storing it again could not be recognised"
        )
    if len(sop_uid) > 64:
        raise RecordNotStorable(f"SOP Instance UID longer than 64 characters: {sop_uid[:80]}")
    return study_uid, sop_uid


def _store(record: rec.DoseRecord, *, study_uid: str, sop_uid: str) -> StoreResult:
    # Lock order is always study, patient, device: two stores never wait on
    # each other in opposite orders.
    study, created = _study_lock(study_uid)
    patient = _patient_upsert(record.patient)
    device = _device_upsert(record.device)

    # order_by(): the models' default orderings cost SQL and time for nothing here.
    events = list(IrradiationEvent.objects.filter(study=study).order_by())
    objects = list(DoseObject.objects.filter(study=study).order_by())

    incoming = _incoming_events(record, study=study, sop_uid=sop_uid)
    added, existing = _events_merge(incoming, events, sop_uid=sop_uid)
    _dose_object_upsert(record, study=study, sop_uid=sop_uid, incoming=incoming, objects=objects)

    totals = _study_totals(
        [_facts_of_row(ev) for ev in events], objects, modality=_study_modality(study, record)
    )
    _planes_sync(study, totals.planes)
    _study_update(
        study, record, patient=patient, device=device, totals=totals, rules=non_patient_rules_active()
    )
    return StoreResult(study=study, created_study=created, events_added=added, events_existing=existing)


# --- study, patient, device ---------------------------------------------------


def _study_lock(study_uid: str) -> tuple[Study, bool]:
    locked = Study.objects.select_for_update()
    study = _one(locked.filter(study_instance_uid=study_uid))
    if study is not None:
        return study, False
    try:
        with transaction.atomic():
            # Our own new row stays invisible to others until we commit, and a
            # concurrent insert of the same UID waits on the unique index.
            return Study.objects.create(study_instance_uid=study_uid), True
    except IntegrityError:
        return locked.get(study_instance_uid=study_uid), False


def _patient_values(patient: rec.Patient) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """(the patient's key fields or None when it has no ID, the other known values)."""
    patient_id = _clip(Patient, "patient_id", patient.patient_id)
    if not patient_id:
        return None, {}
    issuer = _clip(Patient, "issuer_of_patient_id", patient.issuer_of_patient_id)
    known = {
        "name": _clip(Patient, "name", patient.name),
        "birth_date": _date(patient.birth_date),
        "sex": _sex(patient.sex),
    }
    return {"patient_id": patient_id, "issuer_of_patient_id": issuer}, known


def _patient_upsert(patient: rec.Patient) -> Patient | None:
    keys, known = _patient_values(patient)
    if keys is None:
        return None
    row = _one(Patient.objects.filter(**keys))
    if row is None and not keys["issuer_of_patient_id"]:
        row = _patients_any_issuer([(keys["patient_id"], "")]).get((keys["patient_id"], ""))
    if row is None:
        # An identifier merged away or changed by the RIS finds the surviving patient.
        row = _patient_aliases([(keys["patient_id"], keys["issuer_of_patient_id"])]).get(
            (keys["patient_id"], keys["issuer_of_patient_id"])
        )
    if row is None:
        # ON CONFLICT DO NOTHING: a concurrent insert of the same patient wins
        # and we read its row instead of failing.
        Patient.objects.bulk_create([Patient(**keys, **known)], ignore_conflicts=True)
        row = Patient.objects.get(**keys)
    _fill_blanks(row, known)
    return row


def _patients_any_issuer(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Patient]:
    """For IDs without an issuer: the one patient with that ID under any issuer, in one query."""
    by_id: dict[str, list[Patient]] = {}
    for row in Patient.objects.filter(patient_id__in=sorted({pid for pid, _ in keys})).order_by("pk"):
        by_id.setdefault(row.patient_id, []).append(row)
    return {(pid, ""): by_id[pid][0] for pid, _ in keys if len(by_id.get(pid, [])) == 1}


def _patient_aliases(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Patient]:
    """The surviving patients of identifiers that are aliases, in one query.

    A key without issuer takes the one alias of that identifier under any issuer.
    """
    rows = PatientAlias.objects.filter(identifier__in=sorted({pid for pid, _ in keys})).select_related("patient")
    wanted = set(keys)
    aliases = list(rows.order_by())
    found = {
        (a.identifier, a.issuer_of_patient_id): a.patient
        for a in aliases
        if (a.identifier, a.issuer_of_patient_id) in wanted
    }
    for pid, issuer in wanted - set(found):
        if not issuer:
            survivors = {a.patient.pk: a.patient for a in aliases if a.identifier == pid}
            if len(survivors) == 1:
                found[(pid, "")] = next(iter(survivors.values()))
    return found


def device_identity_key(device: rec.Device) -> str:
    """The key that names one physical device (see the module docstring)."""
    uid = _text(device.device_observer_uid)
    if uid:
        return uid
    parts = [device.manufacturer, device.model, device.station_name, device.serial_number]
    normalised = [" ".join((_text(p) or "").lower().split()) for p in parts]
    return "|".join(normalised) if any(normalised) else ""


def _device_values(device: rec.Device) -> tuple[str, dict[str, Any]]:
    """(identity key, "" when the device cannot be named; the known values)."""
    key = device_identity_key(device)
    if not key:
        return "", {}
    known = {
        name: _clip(Device, name, getattr(device, name))
        for name in (
            "manufacturer",
            "model",
            "station_name",
            "serial_number",
            "software_versions",
            "institution_name",
            "department",
            "device_observer_uid",
        )
    }
    return key[: Device._meta.get_field("identity_key").max_length], known


def _device_upsert(device: rec.Device) -> Device | None:
    key, known = _device_values(device)
    if not key:
        return None
    row = _one(Device.objects.filter(identity_key=key)) or _devices_same_room({key: known}).get(key)
    if row is None:
        Device.objects.bulk_create([Device(identity_key=key, **known)], ignore_conflicts=True)
        row = Device.objects.get(identity_key=key)
    _fill_blanks(row, known)
    return row


_ROOM_NAMES = ("manufacturer", "model", "station_name", "serial_number")


def _room_names(values) -> tuple[str, ...]:
    get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
    return tuple(" ".join((get(name) or "").lower().split()) for name in _ROOM_NAMES)


def _devices_same_room(wanted: dict[str, dict[str, Any]]) -> dict[str, Device]:
    """For each key, the one stored device that is this one under the other kind of key.

    A room's RDSRs name it by Device Observer UID, its image headers only by
    manufacturer, model, station and serial. An object without the UID joins
    the single device with those four values that has one; an object with the
    UID takes over the single device that was known by the four values only
    (its key becomes the UID). Two candidates mean two rooms alike: no guess.
    One query for all keys.
    """
    names = {key: _room_names(known) for key, known in wanted.items() if any(_room_names(known))}
    if not names:
        return {}
    stations = sorted({n[2] for n in names.values()})
    rows = list(Device.objects.annotate(station=Lower(Trim("station_name"))).filter(station__in=stations)
                .order_by("pk"))
    found: dict[str, Device] = {}
    for key, room in names.items():
        uid = (wanted[key].get("device_observer_uid") or "").strip()
        alike = [r for r in rows if _room_names(r) == room and bool(r.device_observer_uid) != bool(uid)]
        if len(alike) != 1:
            continue
        row = alike[0]
        if uid:
            taken = Device.objects.filter(pk=row.pk, identity_key=row.identity_key).update(
                identity_key=key, device_observer_uid=uid
            )
            if not taken:  # another worker adopted it first
                row = _one(Device.objects.filter(identity_key=key))
                if row is None:
                    continue
            row.identity_key, row.device_observer_uid = key, uid
        found[key] = row
    return found


def _one(queryset):
    """The single row of a unique lookup or None, without first()'s ORDER BY."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None


def _fill_blanks(row, values: dict[str, Any]) -> None:
    changed = [
        name for name, value in values.items() if value not in (None, "") and getattr(row, name) in (None, "")
    ]
    for name in changed:
        setattr(row, name, values[name])
    if changed:
        if any(f.name == "updated_at" for f in row._meta.fields):
            changed.append("updated_at")
        row.save(update_fields=changed)


# --- events -------------------------------------------------------------------

_EVENT_FIELDS = dataclasses.fields(rec.Event)
# Event fields that have a column of their own; everything else goes in details.
_COLUMN_FIELDS = [
    f.name
    for f in dataclasses.fields(rec.Event)
    if f.name not in ("datetime_started", "irradiation_event_uid")
    and f.name in {mf.name for mf in IrradiationEvent._meta.get_fields() if hasattr(mf, "column")}
]
_FLOAT_COLUMNS = {
    f.name for f in IrradiationEvent._meta.get_fields() if f.get_internal_type() == "FloatField"
}
_TEXT_LIMITS = {
    name: IrradiationEvent._meta.get_field(name).max_length or None
    for name in _COLUMN_FIELDS
    if name not in _FLOAT_COLUMNS
}
_EVENT_UPDATE_FIELDS = [
    "irradiation_event_uid",
    "source_sop_instance_uid",
    "source_kind",
    "position",
    "datetime_started",
    *_COLUMN_FIELDS,
    "details",
]


def _incoming_events(record: rec.DoseRecord, *, study: Study, sop_uid: str) -> list[IrradiationEvent]:
    """The record's events as unsaved rows, repeats within the object removed."""
    rows: list[IrradiationEvent] = []
    seen: set[str] = set()
    for position, event in enumerate(record.events, start=1):
        row = _event_row(event, study=study, sop_uid=sop_uid, kind=record.source.kind, position=position)
        if row.irradiation_event_uid:
            if row.irradiation_event_uid in seen:
                continue
            seen.add(row.irradiation_event_uid)
        rows.append(row)
    return rows


def _event_row(event: rec.Event, *, study: Study, sop_uid: str, kind: str, position: int) -> IrradiationEvent:
    data = _event_dict(event)
    details: dict[str, Any] = {}
    uid = _text(data.pop("irradiation_event_uid", None))
    if uid and len(uid) > 64:
        details["irradiation_event_uid_invalid"] = uid
        uid = None
    started = data.pop("datetime_started", None)
    columns: dict[str, Any] = {"irradiation_event_uid": uid or None, "datetime_started": _datetime(started)}
    if started and columns["datetime_started"] is None:
        details["datetime_started_unparsed"] = started
    for name in _COLUMN_FIELDS:
        value = data.pop(name, None)
        if name in _FLOAT_COLUMNS:
            number = _number(value)
            if value is not None and number is None:
                details[f"{name}_unparsed"] = value
            columns[name] = number
        else:
            columns[name] = (_text(value) or "")[: _TEXT_LIMITS[name]]
    details.update({k: v for k, v in data.items() if v is not None and v != [] and v != {} and v != ""})
    return IrradiationEvent(
        study=study,
        source_sop_instance_uid=sop_uid,
        source_kind=kind,
        position=position,
        details=_jsonable(details),
        **columns,
    )


def _event_dict(event: rec.Event) -> dict[str, Any]:
    # Shallow: nested dataclasses are turned into dicts by _jsonable, once.
    data = {f.name: getattr(event, f.name) for f in _EVENT_FIELDS}
    # A parser may attach fields the dataclass does not declare yet; keep them.
    for name, value in vars(event).items():
        data.setdefault(name, value)
    return data


def _events_merge(
    incoming: list[IrradiationEvent], events: list[IrradiationEvent], *, sop_uid: str
) -> tuple[int, int]:
    """Add new events, upgrade or refresh known ones; `events` ends as the study's events."""
    new, changed = _events_plan(incoming, events, sop_uid=sop_uid)
    if new:
        # PostgreSQL takes at most 65 535 parameters a statement (~45 per row).
        IrradiationEvent.objects.bulk_create(new, batch_size=1000)
    if changed:
        IrradiationEvent.objects.bulk_update(changed, _EVENT_UPDATE_FIELDS)
    return len(new), len(incoming) - len(new)


def _events_plan(
    incoming: list[IrradiationEvent], events: list[IrradiationEvent], *, sop_uid: str
) -> tuple[list[IrradiationEvent], list[IrradiationEvent]]:
    """The merge without writing: (rows to insert, rows to update); `events` gets the new rows."""
    by_uid = {ev.irradiation_event_uid: ev for ev in events if ev.irradiation_event_uid}
    by_position = {(ev.source_sop_instance_uid, ev.position): ev for ev in events}
    new: list[IrradiationEvent] = []
    changed: list[IrradiationEvent] = []
    for row in incoming:
        stored = by_uid.get(row.irradiation_event_uid) if row.irradiation_event_uid else None
        stored = stored or by_position.get((row.source_sop_instance_uid, row.position))
        if stored is None:
            new.append(row)
            continue
        better = _rank(row.source_kind) < _rank(stored.source_kind)
        same_object = stored.source_sop_instance_uid == sop_uid
        position_free = by_position.get((row.source_sop_instance_uid, row.position)) in (None, stored)
        if (better or same_object) and position_free and _event_differs(stored, row):
            del by_position[(stored.source_sop_instance_uid, stored.position)]
            for name in _EVENT_UPDATE_FIELDS:
                setattr(stored, name, getattr(row, name))
            by_position[(stored.source_sop_instance_uid, stored.position)] = stored
            changed.append(stored)
    events.extend(new)
    return new, changed


def _event_differs(stored: IrradiationEvent, row: IrradiationEvent) -> bool:
    return any(getattr(stored, name) != getattr(row, name) for name in _EVENT_UPDATE_FIELDS)


# --- what each object states --------------------------------------------------


def _dose_object_upsert(
    record: rec.DoseRecord,
    *,
    study: Study,
    sop_uid: str,
    incoming: list[IrradiationEvent],
    objects: list[DoseObject],
) -> None:
    row, changed = _dose_object_plan(record, study=study, sop_uid=sop_uid, incoming=incoming, objects=objects)
    if row.pk is None:
        row.save(force_insert=True)
    elif changed:
        row.save(update_fields=changed)


def _dose_object_plan(
    record: rec.DoseRecord,
    *,
    study: Study,
    sop_uid: str,
    incoming: list[IrradiationEvent],
    objects: list[DoseObject],
) -> tuple[DoseObject, list[str]]:
    """The object's row (new rows unsaved, appended to `objects`) and the fields that changed."""
    stated = _stated_of_record(record)
    own = _event_sums([_facts_of_row(row) for row in incoming], modality=_record_modality(record))
    values = {
        "sop_class_uid": _clip(DoseObject, "sop_class_uid", record.source.sop_class_uid),
        "kind": record.source.kind,
        "dose_information_source": _clip(
            DoseObject, "dose_information_source", record.source.dose_information_source
        ),
        "content_datetime": _clip(DoseObject, "content_datetime", record.study.content_datetime),
        "event_count": len(incoming),
        "stated_totals": stated,
        "event_sums": own,
    }
    row = next((o for o in objects if o.sop_instance_uid == sop_uid), None)
    if row is None:
        row = DoseObject(study=study, sop_instance_uid=sop_uid, **values)
        objects.append(row)
        return row, list(values)
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return row, changed


def _stated_of_record(record: rec.DoseRecord) -> dict[str, Any]:
    """What the object states, with values it marks for review blanked out.

    A stated value of unknown unit must neither fill a total nor be compared.
    """
    stated: dict[str, Any] = {}
    if record.ct_totals is not None:
        ct = _without_reviewed(dataclasses.asdict(record.ct_totals))
        if any(v is not None for k, v in ct.items() if k not in ("review", "confidence")):
            stated["ct_totals"] = ct
    if record.planes:
        stated["planes"] = [_without_reviewed(dataclasses.asdict(p)) for p in record.planes]
    if record.mammo_totals is not None:
        mammo = dataclasses.asdict(record.mammo_totals)
        review = set(mammo.get("review") or [])
        agd = mammo.get("agd_accumulated_mgy") or {}
        if review & {"agd_accumulated_mgy", "agd"}:
            agd = {}
        agd = {side: (None if f"agd_{side}" in review or side in review else v) for side, v in agd.items()}
        mammo["agd_accumulated_mgy"] = agd
        if any(v is not None for v in agd.values()):
            stated["mammo_totals"] = mammo
    return _jsonable(stated)


def _without_reviewed(values: dict[str, Any]) -> dict[str, Any]:
    """The values with those in review blanked; what was read is kept aside under
    "in_review", for the person who confirms or corrects it (rdsr.ocr_review)."""
    review = set(values.get("review") or [])
    kept = {k: (None if k in review else v) for k, v in values.items()}
    aside = {k: v for k, v in values.items() if k in review and v is not None}
    if aside:
        kept["in_review"] = aside
    return kept


# --- totals -------------------------------------------------------------------

_PLANE_QUANTITIES = [
    # (PlaneAccumulation field, event field, which events)
    ("dap_total_gycm2", "dap_gycm2", "all"),
    ("dose_rp_total_mgy", "dose_rp_mgy", "all"),
    ("fluoro_dap_total_gycm2", "dap_gycm2", "fluoro"),
    ("acquisition_dap_total_gycm2", "dap_gycm2", "acquisition"),
    ("fluoro_dose_rp_total_mgy", "dose_rp_mgy", "fluoro"),
    ("acquisition_dose_rp_total_mgy", "dose_rp_mgy", "acquisition"),
    ("fluoro_time_total_s", "irradiation_duration_s", "fluoro"),
    ("acquisition_time_total_s", "irradiation_duration_s", "acquisition"),
    ("frames_total", "frames", "acquisition"),
]
_LABELS = {
    "dlp_total_mgycm": ("DLP total", "mGy·cm"),
    "dap_total_gycm2": ("DAP total", "Gy·cm²"),
    "dose_rp_total_mgy": ("Ka,r total", "mGy"),
    "fluoro_dap_total_gycm2": ("fluoroscopy DAP", "Gy·cm²"),
    "acquisition_dap_total_gycm2": ("acquisition DAP", "Gy·cm²"),
    "fluoro_dose_rp_total_mgy": ("fluoroscopy Ka,r", "mGy"),
    "acquisition_dose_rp_total_mgy": ("acquisition Ka,r", "mGy"),
    "fluoro_time_total_s": ("fluoroscopy time", "s"),
    "acquisition_time_total_s": ("acquisition time", "s"),
    "frames_total": ("frames", ""),
    "agd_left_mgy": ("AGD left breast", "mGy"),
    "agd_right_mgy": ("AGD right breast", "mGy"),
    "event_count": ("number of events", ""),
}


@dataclass
class _Facts:
    """What the totals need of one event, whether stored or just parsed."""

    kind: str
    plane: str
    event_type: str
    event_type_code: str
    laterality: str
    values: dict[str, float | None]
    review: set[str]
    uid: str | None
    source: str


@dataclass
class _Totals:
    kind: str
    event_count: int
    dlp_total_mgycm: float | None = None
    dap_total_gycm2: float | None = None
    fluoro_time_total_s: float | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None
    planes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stated: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _facts_of_row(row: IrradiationEvent) -> _Facts:
    values: dict[str, float | None] = {
        name: getattr(row, name)
        for name in ("dlp_mgycm", "ctdivol_mgy", "dap_gycm2", "dose_rp_mgy", "agd_mgy")
    }
    values["frames"] = _number(row.details.get("frames"))
    # Fluoroscopy and acquisition times add up the irradiation duration
    # (113742), never the exposure time: with pulsed fluoroscopy the beam-on
    # time is a small fraction of the time the pedal was pressed (Siemens Zee:
    # 1.8 s of exposure in 28 s of fluoroscopy).
    values["irradiation_duration_s"] = _number(row.details.get("irradiation_duration_s"))
    review = {str(name) for name in row.details.get("review") or []}
    return _Facts(
        kind=row.source_kind,
        plane=row.plane,
        event_type=row.event_type,
        event_type_code=str(row.details.get("event_type_code") or ""),
        laterality=row.laterality,
        values=values,
        review=review,
        uid=row.irradiation_event_uid,
        source=row.source_sop_instance_uid,
    )


def _rank(kind: str) -> int:
    return rec.SOURCE_PRECEDENCE.get(kind, _UNRANKED)


def _is_fluoro(facts: _Facts) -> bool:
    return facts.event_type_code.endswith("44491008") or "fluoro" in facts.event_type.lower()


class _Summer:
    """Applies the three-step rule of the module docstring and collects warnings."""

    def __init__(self, *, warnings: list[str]):
        self.warnings = warnings

    def total(
        self, events: list[_Facts], name: str, quantity: str, stated: Any, where: str = ""
    ) -> float | None:
        if not events:
            return _number(stated)
        trusted = [
            ev.values[name] for ev in events if ev.values.get(name) is not None and name not in ev.review
        ]
        reviewed = sum(1 for ev in events if name in ev.review)
        label, unit = _LABELS[quantity]
        if reviewed:
            self.warnings.append(
                f"{label}{where}: {reviewed} event value(s) need review (unknown or implausible unit) "
                "and are left out of the total"
            )
            return _sum(trusted)
        if len(trusted) == len(events):
            return _sum(trusted)
        if _number(stated) is not None:
            return _number(stated)
        if trusted:
            self.warnings.append(
                f"{label}{where}: {len(events) - len(trusted)} of {len(events)} events carry no value; "
                "the total is the sum of the others"
            )
        return _sum(trusted)


def _study_totals(facts: list[_Facts], objects: list[DoseObject], *, modality: str) -> _Totals:
    kinds_with_events = Counter(ev.kind for ev in facts)
    candidates = list(kinds_with_events) or [o.kind for o in objects]
    best_rank = min((_rank(k) for k in candidates), default=_UNRANKED)
    best_kinds = sorted((k for k in candidates if _rank(k) == best_rank), key=lambda k: -kinds_with_events[k])
    counted = [ev for ev in facts if _rank(ev.kind) == best_rank]
    totals = _Totals(kind=best_kinds[0] if best_kinds else "", event_count=len(counted))

    best_objects = [o for o in objects if _rank(o.kind) == best_rank]
    stating = [o for o in best_objects if o.stated_totals]
    if stating:
        # Most events first; of equally complete objects the latest stored.
        chosen = max(stating, key=lambda o: (o.event_count, o.id or 0))
        totals.stated = {
            "sop_instance_uid": chosen.sop_instance_uid,
            "kind": chosen.kind,
            "events_in_object": chosen.event_count,
            **chosen.stated_totals,
        }
    warnings = totals.warnings
    _warn_stated_disagreement(best_objects, warnings)
    _warn_uidless_repeats(counted, warnings)
    if len(kinds_with_events) > 1:
        ignored = sum(n for k, n in kinds_with_events.items() if _rank(k) != best_rank)
        if ignored:
            warnings.append(
                f"{ignored} event(s) from less reliable sources are kept but not counted: "
                f"the totals use the {totals.kind} events"
            )

    summer = _Summer(warnings=warnings)
    stated = totals.stated
    if modality == "CT":
        ct_stated = (stated.get("ct_totals") or {}).get("dlp_total_mgycm")
        totals.dlp_total_mgycm = summer.total(counted, "dlp_mgycm", "dlp_total_mgycm", ct_stated)
        return totals

    stated_planes = stated.get("planes") or []
    # The modality accumulates plane totals from unrounded values; when one
    # object carried every counted event its statement is the better number.
    covers_all = bool(stated) and stated.get("events_in_object") == len(counted)
    totals.planes = _plane_totals(counted, stated_planes, summer, prefer_stated=covers_all)
    totals.dap_total_gycm2 = summer.total(
        counted, "dap_gycm2", "dap_total_gycm2", _stated_sum(stated_planes, "dap_total_gycm2")
    )
    fluoro_stated = _stated_sum(stated_planes, "fluoro_time_total_s")
    if any(not ev.event_type for ev in counted):
        totals.fluoro_time_total_s = fluoro_stated
    else:
        fluoro = [ev for ev in counted if _is_fluoro(ev)]
        totals.fluoro_time_total_s = summer.total(
            fluoro, "irradiation_duration_s", "fluoro_time_total_s", fluoro_stated
        )

    agd_stated = ((stated.get("mammo_totals") or {}).get("agd_accumulated_mgy")) or {}
    with_agd = [ev for ev in counted if ev.values.get("agd_mgy") is not None or "agd_mgy" in ev.review]
    if with_agd or any(agd_stated.get(side) is not None for side in ("left", "right")):
        left = [ev for ev in with_agd if ev.laterality == "L"]
        right = [ev for ev in with_agd if ev.laterality == "R"]
        totals.agd_left_mgy = summer.total(left, "agd_mgy", "agd_left_mgy", agd_stated.get("left"))
        totals.agd_right_mgy = summer.total(right, "agd_mgy", "agd_right_mgy", agd_stated.get("right"))
        other = len(with_agd) - len(left) - len(right)
        if other:
            warnings.append(
                f"AGD of {other} event(s) without a single-breast laterality is not in the per-breast totals"
            )
    return totals


def _stated_sum(stated_planes: list[dict], quantity: str) -> float | None:
    """A study-wide stated total: the planes' values added, when every plane states one."""
    values = [_number(p.get(quantity)) for p in stated_planes]
    if not values or any(v is None for v in values):
        return None
    return _sum(values)


def _plane_totals(
    counted: list[_Facts], stated_planes: list[dict], summer: _Summer, *, prefer_stated: bool
) -> dict[str, dict[str, Any]]:
    stated_by_plane = {str(p.get("plane") or "single"): p for p in stated_planes}
    named = {ev.plane for ev in counted if ev.plane}
    names = sorted(named | set(stated_by_plane))
    if not names and counted:
        names = ["single"]
    unplaned = [ev for ev in counted if not ev.plane]
    planes: dict[str, dict[str, Any]] = {}
    for name in names:
        stated = stated_by_plane.get(name, {})
        if unplaned and len(names) > 1:
            # Events of unknown plane in a biplane study: no plane sum is
            # reliable, so only what the object states is shown.
            mine: list[_Facts] | None = None
        else:
            mine = [ev for ev in counted if ev.plane == name or not ev.plane]
        values: dict[str, Any] = {}
        where = f" (plane {name})" if name != "single" else ""
        for quantity, event_field, which in _PLANE_QUANTITIES:
            if mine is None:
                values[quantity] = _number(stated.get(quantity))
                continue
            if which == "all":
                events = mine
            elif any(not ev.event_type for ev in mine):
                # Unknown event types cannot be split into fluoroscopy and acquisition.
                values[quantity] = _number(stated.get(quantity))
                continue
            else:
                events = [ev for ev in mine if _is_fluoro(ev) == (which == "fluoro")]
            said = _number(stated.get(quantity))
            if prefer_stated and said is not None and not any(event_field in ev.review for ev in events):
                values[quantity] = said
                continue
            values[quantity] = summer.total(events, event_field, quantity, said, where)
        if values["frames_total"] is not None:
            values["frames_total"] = int(round(values["frames_total"]))
        values["reference_point"] = (_text(stated.get("reference_point")) or "")[:200]
        planes[name] = values
    if unplaned and len(names) > 1:
        summer.warnings.append(
            f"{len(unplaned)} event(s) carry no plane in a study with planes {', '.join(names)}: "
            "plane totals are those the dose object states"
        )
    return planes


def _event_sums(facts: list[_Facts], *, modality: str) -> dict[str, Any]:
    """Totals of one object's own events, only where every event carries the value.

    ``rounding`` holds, per total, how far the sum may be off because each
    event value was rounded to the digits the object gives (half a unit of the
    last digit per event).
    """
    sums: dict[str, Any] = {"event_count": len(facts)}
    rounding: dict[str, float] = {}

    def complete(events: list[_Facts], name: str, key: str) -> float | None:
        if not events or any(ev.values.get(name) is None or name in ev.review for ev in events):
            return None
        values = [ev.values[name] for ev in events]
        rounding[key] = math.fsum(_half_unit(v) for v in values)
        return _sum(values)

    if modality == "CT":
        sums["dlp_total_mgycm"] = complete(facts, "dlp_mgycm", "dlp_total_mgycm")
    else:
        planes = {}
        names = {ev.plane or "single" for ev in facts}
        for name in sorted(names):
            mine = [ev for ev in facts if (ev.plane or "single") == name]
            planes[name] = {
                quantity: complete(mine, event_field, f"{name}:{quantity}")
                for quantity, event_field in (
                    ("dap_total_gycm2", "dap_gycm2"),
                    ("dose_rp_total_mgy", "dose_rp_mgy"),
                )
            }
        sums["planes"] = planes
        agd = {}
        for side, code in (("left", "L"), ("right", "R")):
            agd[side] = complete(
                [ev for ev in facts if ev.laterality == code and ev.values.get("agd_mgy") is not None],
                "agd_mgy",
                f"agd_{side}_mgy",
            )
        sums["agd_mgy"] = agd
    sums["rounding"] = rounding
    return _jsonable(sums)


def _warn_stated_disagreement(objects: list[DoseObject], warnings: list[str]) -> None:
    for obj in objects:
        stated, own = obj.stated_totals, obj.event_sums
        rounding = own.get("rounding") or {}
        pairs: list[tuple[str, str, Any, Any, float]] = []
        ct = stated.get("ct_totals") or {}
        pairs.append(
            (
                "dlp_total_mgycm",
                "",
                ct.get("dlp_total_mgycm"),
                own.get("dlp_total_mgycm"),
                rounding.get("dlp_total_mgycm", 0.0),
            )
        )
        if ct.get("event_count") is not None:
            pairs.append(("event_count", "", ct.get("event_count"), own.get("event_count"), 0.0))
        own_planes = own.get("planes") or {}
        for plane in stated.get("planes") or []:
            name = str(plane.get("plane") or "single")
            mine = own_planes.get(name) or {}
            where = f" (plane {name})" if name != "single" else ""
            for quantity in ("dap_total_gycm2", "dose_rp_total_mgy"):
                slack = rounding.get(f"{name}:{quantity}", 0.0)
                pairs.append((quantity, where, plane.get(quantity), mine.get(quantity), slack))
        agd = ((stated.get("mammo_totals") or {}).get("agd_accumulated_mgy")) or {}
        own_agd = own.get("agd_mgy") or {}
        for side in ("left", "right"):
            key = f"agd_{side}_mgy"
            pairs.append((key, "", agd.get(side), own_agd.get(side), rounding.get(key, 0.0)))
        for quantity, where, said, summed, slack in pairs:
            said, summed = _number(said), _number(summed)
            if said is None or summed is None or _agree(said, summed, slack + _half_unit(said)):
                continue
            label, unit = _LABELS[quantity]
            warnings.append(
                f"{label}{where} stated by {obj.kind} {obj.sop_instance_uid} is {_fmt(said)} {unit}".rstrip()
                + f" but its events add up to {_fmt(summed)} {unit}".rstrip()
                + " (differs by more than 1 % and more than the rounding of the values)"
            )


def _warn_uidless_repeats(counted: list[_Facts], warnings: list[str]) -> None:
    sources = {ev.source for ev in counted if not ev.uid}
    if len(sources) > 1:
        warnings.append(
            f"events without Irradiation Event UID came from {len(sources)} objects of this study; "
            "if the objects repeat each other (cumulative reports) those events are counted more than once"
        )


def _agree(a: float, b: float, rounding: float = 0.0) -> bool:
    """Equal within 1 %, or within what rounding the values to their digits explains."""
    difference = abs(a - b)
    return difference <= max(AGREEMENT_TOLERANCE * max(abs(a), abs(b)), rounding) + 1e-9


def _half_unit(value: float) -> float:
    """Half a unit of the last decimal digit a value is given to (0.14 -> 0.005).

    Values given to more than 6 decimals are taken as unrounded; whole numbers
    count as given to one decimal, since the float no longer says whether the
    object wrote "1" or "1.00", and 1 % covers whole-number rounding of large
    totals anyway.
    """
    magnitude = abs(value)
    for decimals in range(1, 7):
        scaled = magnitude * 10**decimals
        if abs(scaled - round(scaled)) <= 1e-6 * max(1.0, scaled):
            return 0.5 * 10**-decimals
    return 0.0


# --- writing the study --------------------------------------------------------


_PLANE_FIELDS = [q for q, _, _ in _PLANE_QUANTITIES] + ["reference_point"]


def _planes_sync(study: Study, planes: dict[str, dict[str, Any]]) -> None:
    stored = list(PlaneAccumulation.objects.filter(study=study).order_by())
    new, changed, stale = _planes_plan(study, planes, stored)
    if new:
        PlaneAccumulation.objects.bulk_create(new)
    if changed:
        PlaneAccumulation.objects.bulk_update(changed, _PLANE_FIELDS)
    if stale:
        PlaneAccumulation.objects.filter(pk__in=[p.pk for p in stale]).delete()


def _planes_plan(
    study: Study, planes: dict[str, dict[str, Any]], stored_rows: list[PlaneAccumulation]
) -> tuple[list[PlaneAccumulation], list[PlaneAccumulation], list[PlaneAccumulation]]:
    """(rows to insert, rows to update, rows to delete) to make the study's planes `planes`."""
    stored = {p.plane: p for p in stored_rows}
    fields = [q for q, _, _ in _PLANE_QUANTITIES] + ["reference_point"]
    new, changed = [], []
    for name, values in planes.items():
        row = stored.pop(name, None)
        if row is None:
            new.append(PlaneAccumulation(study=study, plane=name, **values))
            continue
        if any(getattr(row, f) != values[f] for f in fields):
            for f in fields:
                setattr(row, f, values[f])
            changed.append(row)
    return new, changed, list(stored.values())


def _study_update(
    study: Study,
    record: rec.DoseRecord,
    *,
    patient: Patient | None,
    device: Device | None,
    totals: _Totals,
    rules: list[Rule],
) -> None:
    changed = _study_describe(study, record, patient=patient, device=device)
    changed += study_non_patient_classify(study, patient=_study_patient(study, patient), rules=rules)
    changed += _study_apply_totals(study, totals)
    if changed:
        study.save(update_fields=[*changed, "updated_at"])


_BEST_SOURCE_FIELDS = frozenset({"modality", "device_id"})


def _study_describe(
    study: Study, record: rec.DoseRecord, *, patient: Patient | None, device: Device | None
) -> list[str]:
    """Fill the study's blank descriptive fields from the record; return those changed.

    Modality and device follow the best source: an RDSR arriving after the
    MPPS or OCR of its study replaces what those said (an MPPS names the room
    only by station, and may say XA for an RF room).
    """
    described = {
        "accession_number": _clip(Study, "accession_number", record.study.accession_number),
        "study_id": _clip(Study, "study_id", record.study.study_id),
        "study_date": _date(record.study.study_date),
        "study_time": _time(record.study.study_time),
        "study_description": _clip(Study, "study_description", record.study.study_description),
        "requested_procedure": _clip(Study, "requested_procedure", record.study.requested_procedure),
        "procedure_reported": _clip(Study, "procedure_reported", record.study.procedure_reported),
        "modality": _clip(Study, "modality", record.study.modality),
        "age_years": _number(record.patient.age_years),
        "weight_kg": _number(record.patient.weight_kg),
        "height_m": _number(record.patient.height_m),
        "patient_id": patient.pk if patient else None,
        "device_id": device.pk if device else None,
    }
    better = bool(study.source_kind) and _rank(record.source.kind) < _rank(study.source_kind)
    changed = []
    for name, value in described.items():
        if value in (None, ""):
            continue
        current = getattr(study, name)
        if current in (None, "") or (better and name in _BEST_SOURCE_FIELDS and current != value):
            setattr(study, name, value)
            changed.append(name)
    if {"weight_kg", "height_m"} & set(changed) and study.patient_size_source != "header":
        # A CSV may have filled the other one before this object arrived.
        study.patient_size_source = "header+csv" if study.patient_size_source else "header"
        changed.append("patient_size_source")
    return changed


def _study_patient(study: Study, patient: Patient | None) -> Patient | None:
    """The study's patient for the non-patient rules: the record's, else the one stored before."""
    if not study.patient_id:
        return None
    if patient is not None and patient.pk == study.patient_id:
        return patient
    # The record names no patient, or another one than the study keeps: rare, one query.
    return study.patient


def _study_apply_totals(study: Study, totals: _Totals) -> list[str]:
    """Set the recomputed totals on the study; return the fields that changed."""
    changed = []
    computed = {
        "event_count": totals.event_count,
        "dlp_total_mgycm": totals.dlp_total_mgycm,
        "dap_total_gycm2": totals.dap_total_gycm2,
        "fluoro_time_total_s": totals.fluoro_time_total_s,
        "agd_left_mgy": totals.agd_left_mgy,
        "agd_right_mgy": totals.agd_right_mgy,
        "stated_totals": totals.stated,
        "source_kind": totals.kind[:20],
        "warnings": list(dict.fromkeys(totals.warnings)),
    }
    for name, value in computed.items():
        if getattr(study, name) != value:
            setattr(study, name, value)
            changed.append(name)
    return changed


def _study_modality(study: Study, record: rec.DoseRecord) -> str:
    return study.modality or _record_modality(record)


def _record_modality(record: rec.DoseRecord) -> str:
    modality = (_text(record.study.modality) or "").upper()
    if modality:
        return modality
    # No modality stated: CT totals or CT event values make it CT; the other
    # kinds are all projection X-ray as far as totals go.
    if record.ct_totals is not None or any(
        ev.dlp_mgycm is not None or ev.ctdivol_mgy is not None for ev in record.events
    ):
        return "CT"
    return ""


# --- small value helpers ------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _clip(model, name: str, value: Any) -> str:
    text = _text(value) or ""
    limit = model._meta.get_field(name).max_length
    return text[:limit] if limit else text


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _date(value: Any) -> dt.date | None:
    text = _text(value)
    if not text:
        return None
    for form in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def _time(value: Any) -> dt.time | None:
    text = _text(value)
    if not text:
        return None
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        # DICOM times are the modality's local time, which is ours.
        try:
            moment = timezone.make_aware(moment)
        except Exception:
            return None
    return moment


def _sex(value: Any) -> str:
    text = (_text(value) or "").upper()[:1]
    return text if text in ("M", "F", "O") else ""


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: dataclasses as dicts, non-finite floats as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
