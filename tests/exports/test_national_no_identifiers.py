"""No patient name, ID, birth date or accession number anywhere in a national export, in any form."""

import zipfile
from io import BytesIO

import pytest

from exports.pseudonym import pseudonym

from .conftest import IDENTIFIERS, SECRET, csv_rows, national_bytes

pytestmark = pytest.mark.django_db


def _forms(value: str) -> list[bytes]:
    # The identifier as written, and the parts of a DICOM name or an ISO date on their own.
    parts = {value, *value.split("^"), value.replace("-", ""), value.replace("^", " ")}
    return [p.encode() for p in parts if len(p) >= 4]


def _xlsx_text(data: bytes) -> bytes:
    with zipfile.ZipFile(BytesIO(data)) as z:
        return b"".join(z.read(name) for name in z.namelist())


@pytest.mark.parametrize("template_id", ["survey-exam", "summary-procedure-room"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_no_identifier_appears_in_the_bytes(world, template_id, fmt):
    data = national_bytes(template_id, fmt=fmt)
    text = _xlsx_text(data) if fmt == "xlsx" else data
    for kind, values in IDENTIFIERS.items():
        for value in values:
            for form in _forms(value):
                assert form not in text, f"{kind} {form!r} in the {template_id} {fmt}"
    # Study Instance UIDs identify an exam too.
    for study in world["studies"]:
        assert study.study_instance_uid.encode() not in text


def test_pseudonyms_are_stable_across_exports_and_change_with_the_secret(world):
    first = csv_rows(national_bytes("survey-exam"))
    again = csv_rows(national_bytes("survey-exam"))
    other = csv_rows(national_bytes("survey-exam", secret="another-installation"))
    assert [r[:2] for r in first] == [r[:2] for r in again]
    assert {r[1] for r in first[1:]}.isdisjoint({r[1] for r in other[1:]})
    assert first[1][1] == pseudonym(secret=SECRET, kind="patient", value="PAT-0001")


def test_the_secret_of_an_installation_is_generated_once_and_kept(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DOSEMGMT_DATA_DIR": str(tmp_path)}
    env.pop("DOSEMGMT_EXPORT_SECRET", None)
    code = "from django.conf import settings; import django; print(settings.EXPORT_SECRET)"
    run = [sys.executable, "-c", f"import os; os.environ['DJANGO_SETTINGS_MODULE']='dosemgmt.settings'; {code}"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert len(first) >= 40 and first == second
    assert (tmp_path / "export_secret").stat().st_mode & 0o077 == 0
