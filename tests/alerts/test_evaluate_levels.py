"""Studies that trip the absolute levels (StrlSchV Annex 14, NCRP 168) and the DRL multiples."""

import pytest

from alerts.models import Alert
from alerts.services import alerts_evaluate
from tests.alerts.conftest import ct_study, mapped
from tests.web.factories import make_event, make_plane, make_study

pytestmark = pytest.mark.django_db


def test_a_brain_ct_above_120_mgy_raises_the_german_significant_event_alert(only_rules):
    only_rules("de-ct-brain-ctdivol", "de-ct-other-ctdivol")
    study = ct_study(name="CT head", ctdivol=130.0, weight_kg=95.0, protocol="Head spiral")
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.rule.code == "de-ct-brain-ctdivol" and alert.study == study and alert.urgent
    assert (alert.value, alert.threshold, alert.unit) == (130.0, 120.0, "mGy")
    assert alert.context["protocol"] == "Head spiral" and alert.context["weight_kg"] == 95.0
    assert alert.context["series"] == 1 and alert.context["procedure"] == "CT head"
    assert alert.context["device"] == str(study.device) and alert.device == study.device


def test_a_brain_ct_between_80_and_120_mgy_raises_nothing_but_another_ct_does(only_rules):
    only_rules("de-ct-brain-ctdivol", "de-ct-other-ctdivol")
    ct_study(name="CT head", ctdivol=100.0)
    chest = ct_study(name="CT chest", ctdivol=100.0, phantom="body32", protocol="Thorax")
    alerts_evaluate()
    assert [(a.rule.code, a.study_id) for a in Alert.objects.all()] == [("de-ct-other-ctdivol", chest.pk)]


def test_fluoroscopy_above_the_german_and_ncrp_levels_raises_one_alert_per_rule(only_rules):
    only_rules("de-fluoro-dap", "ncrp168-kap", "ncrp168-kar", "ncrp168-time", "ncrp168-psd")
    study = make_study(modality="XA", dap_total_gycm2=520.0, fluoro_time_total_s=4000.0, event_count=2)
    make_plane(study, plane="A", dose_rp_total_mgy=4000.0)
    make_plane(study, plane="B", dose_rp_total_mgy=3000.0)  # planes are never added: 4 Gy, below 5 Gy
    mapped(study, "PCI")
    alerts_evaluate()
    found = {a.rule.code: (a.value, a.unit) for a in Alert.objects.all()}
    assert found == {"de-fluoro-dap": (520.0, "Gy·cm²"), "ncrp168-kap": (520.0, "Gy·cm²"),
                     "ncrp168-time": (4000.0, "s")}


def test_ka_r_above_5_gy_on_one_plane_raises_the_ncrp_alert(only_rules):
    only_rules("ncrp168-kar")
    study = make_study(modality="RF", dap_total_gycm2=50.0)
    make_plane(study, plane="single", dose_rp_total_mgy=5200.0)
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert (alert.value, alert.unit) == (5200.0, "mGy")


def test_dlp_above_twice_the_drl_raises_the_drl_alert_with_the_drl_and_its_source(only_rules):
    only_rules("drl-2x-ct-dlp", "drl-2x-ct-ctdivol")
    ct_study(name="CT head", ctdivol=40.0, dlp=1700.0)
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.rule.code == "drl-2x-ct-dlp" and alert.value == 1700.0
    drl = alert.context["drl"]
    assert alert.threshold == 2 * drl and drl in (790.0, 807.0)
    assert "CT head" in alert.context["drl_source"] and alert.context["multiple_of_drl"] > 2


def test_ctdivol_above_twice_the_sequence_drl_names_the_sequence(only_rules):
    only_rules("drl-2x-ct-ctdivol")
    study = ct_study(name="CT head", ctdivol=30.0, dlp=500.0, events=1, protocol="Routine")
    make_event(study, ctdivol_mgy=110.0, dlp_mgycm=100.0, protocol="Perfusion", phantom="head16")
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.context["protocol"] == "Perfusion" and alert.value == 110.0


def test_a_value_waiting_in_review_raises_no_alert(only_rules):
    only_rules("de-ct-brain-ctdivol", "de-ct-other-ctdivol")
    study = make_study(modality="CT", source_kind="ocr")
    make_event(study, ctdivol_mgy=900.0, protocol="Head", target_region="Head",
               details={"review": ["ctdivol_mgy"], "confidence": {"ctdivol_mgy": 0.4}})
    alerts_evaluate()
    assert not Alert.objects.exists()


def test_studies_that_are_not_of_a_patient_raise_nothing(only_rules):
    only_rules("de-ct-other-ctdivol")
    ct_study(name="CT chest", ctdivol=150.0, non_patient=True, non_patient_reason="phantom")
    alerts_evaluate()
    assert not Alert.objects.exists()


def test_every_new_alert_is_in_the_audit_trail(only_rules):
    from audit.models import AuditEvent

    only_rules("de-ct-other-ctdivol")
    ct_study(name="CT chest", ctdivol=150.0)
    alerts_evaluate()
    alert = Alert.objects.get()
    event = AuditEvent.objects.get(object_type="alert", object_id=str(alert.pk))
    assert event.action == "create" and event.source == "alerts" and event.patient_pk == alert.patient_id
