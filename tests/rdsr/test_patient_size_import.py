"""Patient height and weight from a CSV keyed by accession number, stored into real imported studies."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rdsr.models import Study
from rdsr.patient_size import SizeFileInvalid
from rdsr.patient_size_services import patient_size_import
from tests.web.factories import make_study

pytestmark = pytest.mark.django_db

SCENARIO_FILES = [
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm",
    "CT-RDSR-Siemens_Flash-QA-DS.dcm",
    "DX-Im-GE_XR220-1.dcm",
]
SCENARIO_CSV = (
    b"Acc num,height(cm),weight(kg)\nACC12345601,170,90\n74624646290,165,80.6\n00938475,198,102.3\n"
)


@pytest.fixture
def spool(settings, tmp_path):
    settings.SPOOL_DIR = tmp_path / "spool"
    return settings.SPOOL_DIR


def _import_corpus(corpus_file, names):
    out = StringIO()
    call_command("import_dicom", *[str(corpus_file(n)) for n in names], stdout=out, stderr=StringIO())
    return out.getvalue()


def _size(accession):
    study = Study.objects.get(accession_number=accession)
    return study.height_m, study.weight_kg, study.patient_size_source


def test_it_fills_what_was_missing_and_keeps_what_the_headers_gave_in_the_corpus_scenario(spool, corpus_file):
    _import_corpus(corpus_file, SCENARIO_FILES)
    assert _size("ACC12345601") == (1.86, 87.0, "header")
    assert _size("74624646290") == (None, 75.0, "header")
    assert Study.objects.filter(accession_number="00938475").exists(), "the DX image header made no study"

    report = patient_size_import(csv_bytes=SCENARIO_CSV, overwrite=False, user="mpe")

    assert _size("ACC12345601") == (1.86, 87.0, "header")
    assert _size("74624646290") == (1.65, 75.0, "header+csv")
    assert _size("00938475") == (1.98, 102.3, "csv")
    assert {(c.accession_number, c.field, c.old, c.new) for c in report.kept} == {
        ("ACC12345601", "height_m", 1.86, 1.7),
        ("ACC12345601", "weight_kg", 87.0, 90.0),
        ("74624646290", "weight_kg", 75.0, 80.6),
    }
    assert {(c.accession_number, c.field, c.new) for c in report.filled} == {
        ("74624646290", "height_m", 1.65),
        ("00938475", "height_m", 1.98),
        ("00938475", "weight_kg", 102.3),
    }
    assert report.unmatched == [] and report.invalid == [] and report.overwritten == []
    assert (report.rows_read, report.rows_matched, report.studies_changed) == (3, 3, 2)


def test_it_replaces_existing_values_only_when_asked_to_overwrite(spool, corpus_file):
    _import_corpus(corpus_file, SCENARIO_FILES[:1])

    report = patient_size_import(csv_bytes=SCENARIO_CSV, overwrite=True, user="mpe")

    assert _size("ACC12345601") == (1.7, 90.0, "csv")
    assert {(c.field, c.old, c.new) for c in report.overwritten} == {
        ("height_m", 1.86, 1.7),
        ("weight_kg", 87.0, 90.0),
    }
    assert [r.accession_number for r in report.unmatched] == ["74624646290", "00938475"]


def test_it_reports_rows_that_matched_nothing_and_invalid_rows_and_changes_nothing_for_them():
    study = make_study(accession_number="A1")
    csv = (
        b"Accession number;Height (m);Weight (kg)\n"
        b"A1;1,72;70\n"
        b"NOPE;1,80;80\n"
        b"A1;1,60;60\n"
        b";1,70;70\n"
        b"B2;17,2;70\n"
        b"C3;abc;70\n"
    )

    report = patient_size_import(csv_bytes=csv, overwrite=False, user="mpe")

    study.refresh_from_db()
    assert (study.height_m, study.weight_kg) == (1.72, 70.0)
    assert [(r.line, r.accession_number) for r in report.unmatched] == [(3, "NOPE")]
    assert [(p.line, p.accession_number) for p in report.invalid] == [
        (4, "A1"),
        (5, ""),
        (6, "B2"),
        (7, "C3"),
    ]
    assert "already given on line 2" in report.invalid[0].reason
    assert "no accession number" in report.invalid[1].reason
    assert "outside" in report.invalid[2].reason
    assert "not a number" in report.invalid[3].reason
    assert Study.objects.count() == 1


def test_it_gives_every_study_of_an_accession_number_the_values():
    first, second = (
        make_study(accession_number="SHARED"),
        make_study(accession_number="SHARED", weight_kg=60.0),
    )

    report = patient_size_import(csv_bytes=b"accession,weight(kg)\nSHARED,61\n", overwrite=False, user="mpe")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.weight_kg, second.weight_kg) == (61.0, 60.0)
    assert [c.action for c in report.changes] == ["filled", "kept"]


def test_a_value_equal_to_the_stored_one_within_rounding_is_reported_as_the_same_and_not_changed():
    study = make_study(accession_number="A1", height_m=1.86, weight_kg=87.0, patient_size_source="header")

    report = patient_size_import(
        csv_bytes=b"acc,height(cm),weight(kg)\nA1,186,87.0\n", overwrite=True, user="mpe"
    )

    study.refresh_from_db()
    assert study.patient_size_source == "header"
    assert [c.action for c in report.changes] == ["same", "same"]
    assert report.studies_changed == 0


def test_a_file_that_is_not_a_size_list_is_refused_clearly_and_changes_nothing():
    study = make_study(accession_number="A1")
    for data, says in [
        (b"", "empty"),
        (b"name,height\nA1,170\n", "no accession number column"),
        (b"accession,comment\nA1,fine\n", "no height or weight column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    ]:
        with pytest.raises(SizeFileInvalid, match=says):
            patient_size_import(csv_bytes=data, overwrite=True, user="mpe")
    study.refresh_from_db()
    assert (study.height_m, study.weight_kg) == (None, None)


def test_the_command_prints_the_report_and_fails_on_an_unreadable_file(tmp_path):
    make_study(accession_number="A1", weight_kg=80.0)
    path = tmp_path / "sizes.csv"
    path.write_bytes(b"Acc num,height(cm),weight(kg)\nA1,170,82\nZZ,180,90\n")

    out = StringIO()
    call_command("import_patient_size", str(path), stdout=out)

    text = out.getvalue()
    assert "line 2: accession A1" in text and "height 1.7 m" in text
    assert "weight 80 kg kept (file: 82 kg)" in text
    assert "matched no study:\n  line 3: accession ZZ" in text
    assert text.strip().endswith("unmatched 1, invalid 0")

    call_command("import_patient_size", str(path), "--overwrite", stdout=StringIO())
    assert Study.objects.get().weight_kg == 82.0

    (tmp_path / "bad.csv").write_bytes(b"nothing useful\n1\n")
    with pytest.raises(CommandError, match="no accession number column"):
        call_command("import_patient_size", str(tmp_path / "bad.csv"), stdout=StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_patient_size", str(tmp_path / "missing.csv"), stdout=StringIO())
