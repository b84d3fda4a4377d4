"""Template definitions are checked before any export is made."""

import copy
import json

import pytest

from exports.national import (
    TemplateError,
    load_templates,
    template_get,
    validate_definition,
    validate_filters,
)

GOOD = {
    "id": "mini",
    "version": "1",
    "title": "Mini",
    "level": "exam",
    "filters": {"required": ["date_from", "date_to"]},
    "columns": [{"name": "DLP", "unit": "mGy·cm", "source": "study.dlp_total_mgycm"}],
}


def _with(**changes):
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


def test_the_shipped_templates_are_well_formed_and_versioned():
    files = load_templates()
    assert all(f.template for f in files), [f.errors for f in files]
    keys = {f.template.key for f in files}
    assert {"survey-exam@1", "summary-procedure-room@1"} <= keys
    assert template_get("summary-procedure-room").level == "procedure×room"


def test_a_good_definition_has_no_error():
    assert validate_definition(GOOD) == []


@pytest.mark.parametrize(
    ("column", "error"),
    [
        ({"name": "DLP", "unit": "mGy", "source": "study.dlp_total_mgycm"}, "unit 'mGy' but 'study.dlp_total_mgycm' is in 'mGy·cm'"),
        ({"name": "X", "source": "study.nothing"}, "unknown source 'study.nothing'"),
        ({"name": "ID", "source": "patient.patient_id"}, "set \"pseudonymise\": true"),
        ({"name": "Acc", "source": "study.accession_number"}, "set \"pseudonymise\": true"),
        ({"name": "Name", "source": "patient.name", "pseudonymise": True}, "never exported"),
        ({"name": "Born", "source": "patient.birth_date", "pseudonymise": True}, "never exported"),
        ({"name": "DLP m", "unit": "mGy·cm", "source": "study.dlp_total_mgycm", "aggregate": "median"}, "needs level"),
    ],
)
def test_it_names_what_is_wrong_with_a_column(column, error):
    errors = validate_definition(_with(columns=[column]))
    assert any(error in e for e in errors), errors


def test_a_template_without_a_required_period_or_with_a_bad_version_is_refused():
    errors = validate_definition(_with(filters={"required": ["modality"]}, version="one"))
    assert any("'date_from' and 'date_to' must be required" in e for e in errors)
    assert any("'version' must be a number" in e for e in errors)


def test_an_aggregated_template_needs_procedure_and_room_and_only_aggregates_otherwise():
    errors = validate_definition(_with(level="procedure×room", columns=[
        {"name": "Procedure", "source": "procedure.name"},
        {"name": "DLP", "unit": "mGy·cm", "source": "study.dlp_total_mgycm"},
        {"name": "Sex median", "source": "patient.sex", "aggregate": "median"},
    ]))
    assert any("is a group" in e for e in errors), errors
    assert any("not a number" in e for e in errors), errors
    assert any("needs the columns procedure.name and device.name" in e for e in errors), errors


def test_a_broken_file_is_listed_with_its_errors_and_cannot_be_used(tmp_path):
    (tmp_path / "mini.v1.json").write_text(json.dumps(_with(columns=[{"name": "N", "source": "patient.name"}])))
    (tmp_path / "junk.v1.json").write_text("{not json")
    files = load_templates(tmp_path)
    assert [f.template for f in files] == [None, None]
    with pytest.raises(TemplateError, match="never exported"):
        template_get("mini", directory=tmp_path)


def test_the_required_filters_and_the_order_of_the_period_are_checked():
    import datetime

    template = template_get("survey-exam")
    assert validate_filters(template, {"date_from": None, "date_to": None}) == [
        "the start of the period is required", "the end of the period is required"]
    assert validate_filters(template, {"date_from": datetime.date(2024, 4, 1), "date_to": datetime.date(2024, 3, 1)}) == [
        "the period ends before it starts"]
