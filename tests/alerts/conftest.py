"""Fixtures of the alerts tests: web users, shipped rules and procedures, a study mapped to a procedure."""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.models import AlertRule
from drl.models import StandardProcedure
from drl.services import study_mapping_set
from tests.web.conftest import logged_in, staff, user  # noqa: F401
from tests.web.factories import make_event, make_study


@pytest.fixture
def only_rules():
    """Leave only the named shipped rules active, so a test sees the alerts of the rules it is about."""

    def _only(*codes: str) -> list[AlertRule]:
        AlertRule.objects.exclude(code__in=codes).update(active=False)
        AlertRule.objects.filter(code__in=codes).update(active=True)
        return list(AlertRule.objects.filter(code__in=codes))

    return _only


def procedure(name: str) -> StandardProcedure:
    return StandardProcedure.objects.get(name=name)


def mapped(study, name: str):
    study_mapping_set(study_id=study.pk, procedure_id=procedure(name).pk, username="test")
    return study


def ct_study(*, name: str = "CT head", ctdivol: float = 40.0, dlp: float = 700.0, protocol: str = "Head routine",
             phantom: str = "head16", date: dt.date = dt.date(2024, 3, 1), events: int = 1, **fields):
    """A CT study with `events` sequences of the given CTDIvol, mapped to `name` (None: unmapped)."""
    fields.setdefault("dlp_total_mgycm", dlp)
    fields.setdefault("event_count", events)
    study = make_study(modality="CT", study_date=date, study_description=fields.pop("description", name or ""), **fields)
    for _ in range(events):
        make_event(study, ctdivol_mgy=ctdivol, dlp_mgycm=dlp / events, protocol=protocol, phantom=phantom,
                   kvp=120.0, pitch=0.55)
    if name:
        mapped(study, name)
    return study
