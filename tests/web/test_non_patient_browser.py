"""One real browser pass over the patient tools: upload sizes, mark a phantom study, filter the list."""

import pytest

from rdsr.models import NonPatientRule, Study
from tests.web.factories import PASSWORD, make_patient, make_study
from tests.web.test_browser_smoke import ARTIFACTS, browser_page  # noqa: F401 (fixture)


@pytest.mark.django_db(transaction=True)
def test_a_user_uploads_sizes_marks_a_phantom_study_and_filters_it_out(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    django_user_model,
    tmp_path,
):
    django_user_model.objects.create_user(username="mpe", password=PASSWORD)
    NonPatientRule.objects.all().delete()
    study = make_study(
        accession_number="ACC-1",
        study_description="Water phantom",
        patient=make_patient(patient_id="P-1", name="Water^Jane"),
        weight_kg=75.0,
    )
    make_study(accession_number="ACC-2", study_description="Thorax", patient=make_patient(patient_id="P-2"))
    csv = tmp_path / "sizes.csv"
    csv.write_bytes(b"Accession number;Height (cm);Weight (kg)\nACC-1;165;80,6\nNOPE;170;70\n")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_page

    page.goto(f"{live_server.url}/patient-size/")
    page.fill("input[name=username]", "mpe")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("input[type=file]")
    page.set_input_files("input[type=file]", str(csv))
    page.click("button:has-text('Import')")
    page.wait_for_selector("section.report")
    assert "1.65 m" in page.inner_text("table.filled")
    assert "75 kg" in page.inner_text("table.kept") and "80.6 kg" in page.inner_text("table.kept")
    assert "NOPE" in page.inner_text("table.unmatched")
    page.screenshot(path=str(ARTIFACTS / "patient-size.png"), full_page=True)

    page.goto(f"{live_server.url}/studies/{study.pk}/")
    page.fill("#non-patient-reason", "water phantom")
    page.click("button:has-text('Mark as not a patient')")
    page.wait_for_selector("section.nonpatient-decision.warning")
    assert "Not a patient (water phantom)" in page.inner_text("section.nonpatient-decision")
    assert "Decided by mpe" in page.inner_text("section.nonpatient-decision")
    page.screenshot(path=str(ARTIFACTS / "study-not-a-patient.png"), full_page=True)

    page.goto(f"{live_server.url}/")
    assert "not a patient" in page.inner_text("table.studies")
    page.select_option("select[name=show]", "patients")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**show=patients**")
    assert page.locator("table.studies tbody tr").count() == 1
    assert "ACC-2" in page.inner_text("table.studies")
    assert Study.objects.get(pk=study.pk).height_m == 1.65
