"""The beat task maps new studies without a broker (eager), the same code as with one."""

import pytest

from dosemgmt.celery import app
from drl.models import StudyMapping
from drl.tasks import drl_mapping_refresh
from tests.web.factories import make_study

# The task closes stale connections, as in a worker: the test needs real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_task_maps_studies_not_mapped_yet():
    study = make_study(study_description="CT Thorax")
    assert (
        drl_mapping_refresh.delay().get() == 1 if app.conf.task_always_eager else drl_mapping_refresh() == 1
    )
    assert StudyMapping.objects.filter(study=study).exists()
    assert drl_mapping_refresh() == 0


def test_beat_runs_it_on_the_reports_queue():
    entry = app.conf.beat_schedule["drl-mapping-refresh"]
    assert entry["task"] == drl_mapping_refresh.name and entry["options"]["queue"] == "reports"
