"""Re-evaluation is idempotent: one alert per study, rule and quantity; a justified alert stays justified."""

import pytest

from alerts.models import Alert, StudyEvaluation
from alerts.services import alert_transition, alerts_evaluate
from rdsr.models import Study
from tests.alerts.conftest import ct_study

pytestmark = pytest.mark.django_db


def _reimport(study: Study, **changes) -> None:
    """What the store does with the same study sent again: its row saved, updated_at newer."""
    for name, value in changes.items():
        setattr(study, name, value)
    study.save()


def test_a_justified_alert_stays_justified_when_the_same_study_is_reimported(only_rules):
    only_rules("de-ct-other-ctdivol")
    study = ct_study(name="CT chest", ctdivol=150.0, phantom="body32")
    alerts_evaluate()
    alert = Alert.objects.get()
    alert_transition(alert_id=alert.pk, status="acknowledged", username="mpe")
    alert_transition(alert_id=alert.pk, status="justified", justification="patient-size", username="mpe",
                     comment="BMI 41")
    _reimport(study, weight_kg=140.0)
    result = alerts_evaluate()
    assert result.studies == 1 and result.created == []
    [again] = Alert.objects.all()
    assert again.pk == alert.pk and again.status == "justified" and again.justification == "patient-size"
    assert again.context["weight_kg"] == 140.0


def test_an_unchanged_study_is_not_evaluated_again():
    ct_study(name="CT chest", ctdivol=150.0, phantom="body32")
    assert alerts_evaluate().studies == 1
    assert alerts_evaluate().studies == 0
    assert StudyEvaluation.objects.count() == 1


def test_a_study_mapped_after_its_evaluation_is_evaluated_again(only_rules):
    from tests.alerts.conftest import mapped

    only_rules("drl-2x-ct-dlp")
    study = ct_study(name=None, dlp=1700.0)
    alerts_evaluate()
    assert not Alert.objects.exists()  # no procedure, no DRL
    mapped(study, "CT head")
    alerts_evaluate()
    assert Alert.objects.get().rule.code == "drl-2x-ct-dlp"


def test_an_alert_whose_value_was_corrected_is_kept_and_marked_no_longer_met(only_rules):
    only_rules("de-ct-other-ctdivol")
    study = ct_study(name="CT chest", ctdivol=150.0, phantom="body32")
    alerts_evaluate()
    study.events.update(ctdivol_mgy=15.0)
    _reimport(study)
    alerts_evaluate()
    alert = Alert.objects.get()
    assert not alert.condition_met and alert.status == "new"
