"""An order from the RIS without dose data becomes an alert, and is flagged once its dose data arrives."""

import datetime as dt

import pytest
from django.utils import timezone

from alerts.models import Alert
from alerts.services import alerts_evaluate_orders
from ris.models import Order
from tests.web.factories import make_event, make_patient, make_study

pytestmark = pytest.mark.django_db


def test_an_order_without_dose_data_after_24_hours_is_an_alert_until_its_study_arrives(only_rules):
    only_rules("order-without-dose")
    now = timezone.now()
    patient = make_patient()
    order = Order.objects.create(patient=patient, accession_number="ACC77", procedure_text="CT abdomen",
                                 modality="CT", scheduled_at=now - dt.timedelta(hours=30))
    Order.objects.create(patient=patient, accession_number="ACC78", modality="CT",
                         scheduled_at=now - dt.timedelta(hours=2))
    Order.objects.create(patient=patient, accession_number="ACC79", modality="MR",
                         scheduled_at=now - dt.timedelta(hours=30))
    alerts_evaluate_orders(now=now)
    [alert] = Alert.objects.all()
    assert alert.order == order and alert.context["accession_number"] == "ACC77" and alert.condition_met

    study = make_study(accession_number="ACC77", event_count=1)
    make_event(study, ctdivol_mgy=5.0)
    alerts_evaluate_orders(now=now)
    alert.refresh_from_db()
    assert not alert.condition_met and Alert.objects.count() == 1
