import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingest.models import ReceivedObject
from rdsr.models import Study

ROOT = Path(__file__).resolve().parents[2]
Status = ReceivedObject.Status
# RF-RDSR-Siemens-Zee_adjusted.dcm reuses the SOP Instance UID of
# RF-RDSR-Siemens-Zee.dcm: 30 files, 29 objects.
CORPUS_FILES = 30
CORPUS_OBJECTS = 29


def _import(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_dicom", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _summary_counts(summary: str) -> dict[str, int]:
    # "imported 20, duplicate 0, not dose 10, failed 0, skipped 0 (not DICOM)"
    counts = {}
    for part in summary.strip().splitlines()[-1].split(", "):
        words = part.split(" (")[0].rsplit(" ", 1)
        counts[words[0]] = int(words[1])
    return counts


@pytest.mark.django_db
def test_it_imports_the_corpus_and_counts_what_each_object_was(spool, corpus_dir):
    out, err = _import(str(corpus_dir / "dicom"))

    counts = _summary_counts(out)
    statuses = dict(ReceivedObject.objects.values_list("sop_instance_uid", "status"))
    assert len(statuses) == CORPUS_OBJECTS
    assert counts["imported"] == sum(s == Status.DONE for s in statuses.values())
    assert counts["not dose"] == sum(s == Status.NOT_RELEVANT for s in statuses.values())
    assert counts["imported"] == 28  # all but the SR that is not a dose report
    assert counts["imported"] + counts["not dose"] == CORPUS_OBJECTS
    assert (counts["duplicate"], counts["failed"], counts["skipped"]) == (1, 0, 0)
    assert set(ReceivedObject.objects.values_list("origin", flat=True)) == {"import"}


@pytest.mark.django_db
def test_importing_the_same_files_again_finds_only_duplicates_and_changes_nothing(spool, corpus_dir):
    _import(str(corpus_dir / "dicom"))
    studies_before = list(Study.objects.order_by("pk").values_list("pk", "event_count"))
    processed_before = dict(ReceivedObject.objects.values_list("pk", "processed_at"))

    out, _ = _import(str(corpus_dir / "dicom"))

    assert _summary_counts(out) == {
        "imported": 0,
        "duplicate": CORPUS_FILES,
        "not dose": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert list(Study.objects.order_by("pk").values_list("pk", "event_count")) == studies_before
    assert dict(ReceivedObject.objects.values_list("pk", "processed_at")) == processed_before
    assert sum(ReceivedObject.objects.values_list("times_received", flat=True)) == 2 * CORPUS_FILES


@pytest.mark.django_db
def test_it_walks_folders_names_what_is_not_dicom_and_fails_on_a_broken_object(spool, corpus_file, tmp_path):
    folder = tmp_path / "export"
    (folder / "deep" / "deeper").mkdir(parents=True)
    shutil.copy(corpus_file("DX-RDSR-Canon_CXDI.dcm"), folder / "deep" / "deeper" / "IM0001")
    shutil.copy(corpus_file("ESR_non-dose.dcm"), folder / "deep" / "sr.dcm")
    (folder / "README.txt").write_text("exported by the PACS\n")
    whole = corpus_file("CT-RDSR-Toshiba_DoseCheck.dcm").read_bytes()
    (folder / "broken.dcm").write_bytes(whole[: len(whole) // 2])

    with pytest.raises(CommandError) as failed:
        _import(str(folder))

    assert failed.value.returncode == 1
    statuses = sorted(ReceivedObject.objects.values_list("status", flat=True))
    assert statuses == sorted([Status.DONE, Status.NOT_RELEVANT, Status.FAILED])


@pytest.mark.django_db
def test_its_report_names_the_skipped_and_failed_files(spool, corpus_file, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    whole = corpus_file("CT-RDSR-Toshiba_DoseCheck.dcm").read_bytes()
    (tmp_path / "broken.dcm").write_bytes(whole[: len(whole) // 2])
    shutil.copy(corpus_file("DX-RDSR-Canon_CXDI.dcm"), tmp_path / "good.dcm")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("import_dicom", str(tmp_path), stdout=out, stderr=err)

    assert _summary_counts(out.getvalue()) == {
        "imported": 1,
        "duplicate": 0,
        "not dose": 0,
        "failed": 1,
        "skipped": 1,
    }
    assert f"skipped (not DICOM): {tmp_path / 'notes.txt'}" in err.getvalue()
    assert f"failed: {tmp_path / 'broken.dcm'}: unreadable object: " in err.getvalue()


@pytest.mark.django_db
def test_a_missing_path_is_an_error(spool, tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        _import(str(tmp_path / "nowhere"))


@pytest.mark.django_db(transaction=True)
def test_it_runs_as_a_command_line_program(child_env, corpus_dir):
    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_dicom", str(corpus_dir / "dicom")],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = run()
    second = run()

    assert first.returncode == 0, first.stderr
    counts = _summary_counts(first.stdout)
    assert counts["imported"] + counts["not dose"] == CORPUS_OBJECTS
    assert counts["failed"] == 0
    assert ReceivedObject.objects.filter(status=Status.DONE).count() == counts["imported"]
    assert second.returncode == 0, second.stderr
    assert _summary_counts(second.stdout)["duplicate"] == CORPUS_FILES
    # Not a terminal: no progress bar unless asked.
    assert "file/s" not in first.stderr


@pytest.mark.django_db
def test_it_shows_a_progress_bar_on_stderr_when_asked(spool, corpus_file, tmp_path, capsys):
    shutil.copy(corpus_file("DX-RDSR-Canon_CXDI.dcm"), tmp_path / "one.dcm")

    call_command("import_dicom", "--progress", str(tmp_path), stdout=StringIO(), stderr=StringIO())

    assert "1/1" in capsys.readouterr().err


@pytest.mark.django_db
def test_the_dx_image_header_scenario_gives_two_studies_and_a_resent_image_changes_nothing(spool, corpus_dir,
                                                                                           tmp_path):
    names = ["DX-Im-GE_XR220-1.dcm", "DX-Im-GE_XR220-2.dcm", "DX-Im-GE_XR220-3.dcm",
             "DX-Im-Carestream_DR7500-1.dcm", "DX-Im-Carestream_DR7500-2.dcm"]
    for name in names:
        _import(str(corpus_dir / "dicom" / name))
    before = list(Study.objects.order_by("pk").values_list("pk", "event_count", "dap_total_gycm2", "updated_at"))
    out, _ = _import(str(corpus_dir / "dicom" / "DX-Im-GE_XR220-2.dcm"))

    assert _summary_counts(out)["duplicate"] == 1
    assert list(Study.objects.order_by("pk").values_list("pk", "event_count", "dap_total_gycm2",
                                                         "updated_at")) == before
    totals = sorted((count, round(dap, 4)) for _, count, dap, _ in before)
    assert totals == [(2, 2.117), (3, 0.328)]  # EXPECTED.json: 2.117e-04 and 3.28e-05 Gy·m²
