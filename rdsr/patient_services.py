"""Patient identity changes the RIS/HIS or a person decides: demographics, merge, ID change, reassignment.

The DICOM store (`rdsr.services`) only fills blanks; these services overwrite,
because the RIS is the master of who a patient is. Age at the exam follows
the birth date they set. Auditing is the caller's (it knows who and why).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from .models import Patient, PatientAlias, Study


class IdentityConflict(ValueError):
    """The change would make two patients share an identifier."""


def patient_find(*, patient_id: str, issuer: str) -> Patient | None:
    """The patient known by this identifier, directly or as an alias."""
    row = Patient.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer).first()
    if row is not None:
        return row
    alias = PatientAlias.objects.filter(identifier=patient_id, issuer_of_patient_id=issuer).select_related("patient")
    found = alias.first()
    return found.patient if found else None


def patient_demographics_update(
    *,
    patient_id: str,
    issuer: str,
    name: str,
    birth_date: dt.date | None,
    sex: str,
    create: bool = True,
) -> tuple[Patient | None, dict[str, Any], bool]:
    """Create or update a patient with what the RIS says: (patient, {field: [old, new]}, created).

    Values the message leaves empty keep what is stored.
    """
    patient = patient_find(patient_id=patient_id, issuer=issuer)
    if patient is None:
        if not create:
            return None, {}, False
        patient = Patient.objects.create(
            patient_id=patient_id, issuer_of_patient_id=issuer, name=name, birth_date=birth_date, sex=sex
        )
        return patient, {"name": [None, name], "birth_date": [None, _iso(birth_date)], "sex": [None, sex]}, True
    changes: dict[str, Any] = {}
    for field, value in (("name", name), ("birth_date", birth_date), ("sex", sex)):
        if value not in (None, "") and getattr(patient, field) != value:
            changes[field] = [_iso(getattr(patient, field)), _iso(value)]
            setattr(patient, field, value)
    if changes:
        patient.save(update_fields=[*changes, "updated_at"])
        if "birth_date" in changes:
            study_ages_refresh(studies=Study.objects.filter(patient=patient), birth_date=patient.birth_date)
    return patient, changes, False


def patient_merge(*, surviving: Patient, prior: Patient) -> list[int]:
    """Move every study of `prior` to `surviving`, keep prior's IDs as aliases, delete prior.

    Returns the ids of the studies moved. Rows of other apps pointing at
    `prior` (orders) must be moved by the caller first.
    """
    if surviving.pk == prior.pk:
        return []
    with transaction.atomic():
        moved = list(Study.objects.filter(patient=prior).values_list("pk", flat=True))
        Study.objects.filter(pk__in=moved).update(patient=surviving)
        PatientAlias.objects.filter(patient=prior).update(patient=surviving)
        # Blanks of the survivor are filled from the prior record, never overwritten.
        for field in ("name", "birth_date", "sex"):
            if getattr(surviving, field) in (None, "") and getattr(prior, field) not in (None, ""):
                setattr(surviving, field, getattr(prior, field))
        surviving.save()
        prior_key = (prior.patient_id, prior.issuer_of_patient_id)
        prior.delete()
        if prior_key[0]:
            PatientAlias.objects.get_or_create(
                identifier=prior_key[0],
                issuer_of_patient_id=prior_key[1],
                defaults={"patient": surviving, "reason": "merge"},
            )
        study_ages_refresh(studies=Study.objects.filter(pk__in=moved), birth_date=surviving.birth_date)
    return moved


def patient_identifier_change(*, patient: Patient, new_id: str, new_issuer: str) -> None:
    """Give a patient a new identifier; the old one stays as an alias."""
    if (patient.patient_id, patient.issuer_of_patient_id) == (new_id, new_issuer):
        return
    if Patient.objects.filter(patient_id=new_id, issuer_of_patient_id=new_issuer).exclude(pk=patient.pk).exists():
        raise IdentityConflict(f"another patient already has the ID {new_id} ({new_issuer or 'no issuer'})")
    with transaction.atomic():
        old = (patient.patient_id, patient.issuer_of_patient_id)
        # The new ID may have been an alias of this very patient.
        PatientAlias.objects.filter(identifier=new_id, issuer_of_patient_id=new_issuer).delete()
        patient.patient_id, patient.issuer_of_patient_id = new_id, new_issuer
        patient.save(update_fields=["patient_id", "issuer_of_patient_id", "updated_at"])
        if old[0]:
            PatientAlias.objects.update_or_create(
                identifier=old[0], issuer_of_patient_id=old[1], defaults={"patient": patient, "reason": "change"}
            )


def study_patient_set(*, study: Study, patient: Patient | None) -> None:
    """Put a study on another patient; its age at the exam follows that patient's birth date."""
    study.patient = patient
    study.save(update_fields=["patient", "updated_at"])
    if patient is not None and patient.birth_date:
        study_ages_refresh(studies=Study.objects.filter(pk=study.pk), birth_date=patient.birth_date)


def study_ages_refresh(*, studies, birth_date: dt.date | None) -> int:
    """Age at the exam from the birth date and the study date (to 0.1 year), as the parser computes it."""
    if birth_date is None:
        return 0
    changed = []
    for study in studies.exclude(study_date=None).only("pk", "study_date", "age_years"):
        days = (study.study_date - birth_date).days
        age = round(days / 365.25, 1) if days >= 0 else None
        if age is not None and study.age_years != age:
            study.age_years = age
            changed.append(study)
    Study.objects.bulk_update(changed, ["age_years"])
    return len(changed)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value
