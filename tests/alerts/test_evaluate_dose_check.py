"""CT dose-check alerts recorded by the scanner, with the operator's reason."""

import pytest

from alerts.models import Alert
from alerts.services import alerts_evaluate
from tests.web.factories import make_event, make_study

pytestmark = pytest.mark.django_db


def test_a_dose_check_alert_in_the_rdsr_becomes_an_alert_with_the_reason_for_proceeding(only_rules):
    only_rules("ct-dose-check-alert")
    study = make_study(modality="CT")
    make_event(study, protocol="Thorax", ctdivol_mgy=12.0)
    make_event(study, protocol="Abdomen", ctdivol_mgy=30.0, details={"dose_check": {
        "dlp_alert_mgycm": 1000.0, "accumulated_dlp_forward_estimate_mgycm": 1250.0,
        "reason_for_proceeding": "Patient size", "person": "Smith^Anna"}})
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.context["reason_for_proceeding"] == "Patient size" and alert.context["person"] == "Smith^Anna"
    assert alert.context["protocol"] == "Abdomen" and "DLP" in alert.message


def test_a_dose_check_in_review_raises_nothing(only_rules):
    only_rules("ct-dose-check-alert")
    study = make_study(modality="CT", source_kind="ocr")
    make_event(study, protocol="Abdomen", details={"review": ["dose_check"], "dose_check": {
        "dlp_alert_mgycm": 1000.0, "accumulated_dlp_forward_estimate_mgycm": 1250.0}})
    alerts_evaluate()
    assert not Alert.objects.exists()
