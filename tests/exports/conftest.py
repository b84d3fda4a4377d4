"""A small known world for the export tests: three rooms, three procedures, patients with every identifier."""

from __future__ import annotations

import datetime

import pytest

from drl.models import MappingSource, StandardProcedure, StudyMapping
from tests.ingest.conftest import child_env, spool  # noqa: F401  (the broker test's worker)
from tests.web.conftest import logged_in, staff, user  # noqa: F401
from tests.web.factories import make_device, make_event, make_patient, make_study

SECRET = "test-installation-secret"
IDENTIFIERS = {
    "names": ["Mustermann^Erika", "Doe^John", "Nakamura^Yui", "Phantom^Water"],
    "patient_ids": ["PAT-0001", "PAT-0002", "PAT-0003", "QA-PHANTOM"],
    "birth_dates": ["1961-07-23", "1980-01-31", "1999-12-24", "2000-01-01"],
    "accessions": ["ACC-1001", "ACC-1002", "ACC-1003", "ACC-1004", "ACC-1005", "ACC-1006", "ACC-1007",
                   "ACC-1008", "ACC-1009"],
}


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.EXPORT_SECRET = SECRET
    return settings.EXPORT_DIR


def _map(study, procedure):
    StudyMapping.objects.create(study=study, procedure=procedure, source=MappingSource.MANUAL,
                                modality=study.modality)
    return study


def _procedure(name: str, modality: str, radlex: str = "") -> StandardProcedure:
    return StandardProcedure.objects.update_or_create(
        name=name, defaults={"modality": modality, "radlex_playbook_id": radlex, "active": True}
    )[0]


@pytest.fixture
def world(db, export_dir):
    """Nine studies in and around March 2024; the golden files describe what the national export makes of them."""
    ct1 = make_device(display_name="CT 1", identity_key="ct1", manufacturer="SIEMENS", model="Flash")
    ct2 = make_device(display_name="CT 2", identity_key="ct2", manufacturer="GE", model="Revolution")
    dx1 = make_device(display_name="DX 1", identity_key="dx1", manufacturer="Carestream", model="DRX")
    # The catalogue ships with procedures of these names: take them as they are here.
    head = _procedure("CT Head", "CT", "RPID22")
    chest = _procedure("CT Chest", "CT")
    pa = _procedure("Chest PA", "DX")
    names, ids, births = IDENTIFIERS["names"], IDENTIFIERS["patient_ids"], IDENTIFIERS["birth_dates"]
    p1, p2, p3, phantom = (
        make_patient(patient_id=ids[i], name=names[i], birth_date=datetime.date.fromisoformat(births[i]),
                     sex="FMFO"[i])
        for i in range(4)
    )
    acc = iter(IDENTIFIERS["accessions"])

    def study(n, patient, device, procedure, day, modality="CT", **fields):
        s = make_study(study_instance_uid=f"1.2.826.0.1.3680043.10.777.{n}", patient=patient, device=device,
                       accession_number=next(acc), study_date=datetime.date(2024, 3, day), modality=modality,
                       study_description=f"Exam of {patient.name}", **fields)
        return _map(s, procedure) if procedure else s

    s1 = study(1, p1, ct1, head, 4, dlp_total_mgycm=800.0, age_years=62.6, weight_kg=70.0, height_m=1.68)
    make_event(s1, event_type="Constant Angle Acquisition", ctdivol_mgy=0.2, dlp_mgycm=3.0)
    make_event(s1, event_type="Spiral Acquisition", ctdivol_mgy=50.0, dlp_mgycm=780.0)
    make_event(s1, event_type="Spiral Acquisition", ctdivol_mgy=60.0, details={"review": ["ctdivol_mgy"]})
    s2 = study(2, p2, ct1, head, 5, dlp_total_mgycm=900.0, age_years=44.1)
    make_event(s2, event_type="Spiral Acquisition", ctdivol_mgy=55.0, dlp_mgycm=900.0)
    s3 = study(3, p1, ct1, head, 20, dlp_total_mgycm=1000.0, age_years=62.7, weight_kg=71.5)
    make_event(s3, event_type="Spiral Acquisition", ctdivol_mgy=65.0, dlp_mgycm=1000.0)
    s4 = study(4, p3, ct2, head, 21, dlp_total_mgycm=700.0, age_years=24.2)
    make_event(s4, event_type="Sequenced Acquisition", ctdivol_mgy=45.0, dlp_mgycm=700.0)
    s5 = study(5, p2, ct2, chest, 29, dlp_total_mgycm=400.0, age_years=44.2)
    make_event(s5, event_type="Spiral Acquisition", ctdivol_mgy=10.0, dlp_mgycm=200.0)
    make_event(s5, event_type="Spiral Acquisition", ctdivol_mgy=12.5, dlp_mgycm=200.0)
    s6 = study(6, p3, dx1, pa, 31, modality="DX", dap_total_gycm2=0.12, age_years=24.3)
    make_event(s6, event_type="Stationary Acquisition", dap_gycm2=0.12)
    # Left out of every national export: a phantom, a study after the period.
    s7 = study(7, phantom, ct1, head, 6, dlp_total_mgycm=5000.0, non_patient=True, non_patient_reason="phantom")
    make_event(s7, event_type="Spiral Acquisition", ctdivol_mgy=99.0, dlp_mgycm=5000.0)
    s8 = make_study(study_instance_uid="1.2.826.0.1.3680043.10.777.8", patient=p1, device=ct1,
                    accession_number=next(acc), study_date=datetime.date(2024, 4, 2), modality="CT",
                    dlp_total_mgycm=1234.0)
    _map(s8, head)
    # In the per-exam survey (no procedure yet), not in the per-procedure summary.
    s9 = study(9, p2, ct2, None, 15, dlp_total_mgycm=321.0)
    return {"studies": [s1, s2, s3, s4, s5, s6, s7, s8, s9], "rooms": [ct1, ct2, dx1],
            "procedures": {"head": head, "chest": chest, "pa": pa}}


MARCH = {"date_from": datetime.date(2024, 3, 1), "date_to": datetime.date(2024, 3, 31)}


def national_bytes(template_id: str, *, fmt: str = "csv", secret: str | None = None, **filters) -> bytes:
    """A national export written through the job's code path, as bytes (no web, no job row)."""
    import tempfile
    from pathlib import Path

    from exports import columns
    from exports.selectors import ListFilters
    from exports.services import national_export, national_export_validate

    checked = national_export_validate(template_id=template_id, filters=ListFilters(**{**MARCH, **filters}))
    export = national_export(checked, secret=secret)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        (columns.write_xlsx if fmt == "xlsx" else columns.write_csv)(path, export.headers, export.rows)
        return path.read_bytes()


def csv_rows(data: bytes) -> list[list[str]]:
    import csv
    import io

    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
