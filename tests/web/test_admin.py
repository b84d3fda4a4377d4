import pytest
from django.contrib import admin
from django.urls import reverse

from ingest.models import ReceivedObject
from rdsr.models import Device, DoseObject, IrradiationEvent, Patient, PlaneAccumulation, Study
from tests.web.factories import make_event, make_plane, make_received, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    study = make_study(dlp_total_mgycm=100.0, stated_totals={"ct_totals": {"dlp_total_mgycm": 100.0}})
    event = make_event(study, ctdivol_mgy=5.0, dlp_mgycm=100.0)
    plane = make_plane(study, dap_total_gycm2=1.5)
    dose_object = DoseObject.objects.create(
        study=study, sop_instance_uid="1.2.3.9", kind="rdsr", event_count=1
    )
    received = make_received(study=study, status="done", kind="rdsr")
    return {
        Study: study,
        IrradiationEvent: event,
        PlaneAccumulation: plane,
        DoseObject: dose_object,
        Patient: study.patient,
        Device: study.device,
        ReceivedObject: received,
    }


def _admin_url(obj, view: str, *args) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_every_model_has_an_admin():
    for model in (Study, IrradiationEvent, PlaneAccumulation, DoseObject, Patient, Device, ReceivedObject):
        assert admin.site.is_registered(model), model


def test_it_shows_the_changelist_search_and_change_page_of_every_model(client, staff, world):
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, obj in world.items():
        changelist = client.get(_admin_url(obj, "changelist"))
        assert changelist.status_code == 200, model
        assert changelist.context["cl"].result_count == 1, model
        assert client.get(_admin_url(obj, "changelist"), {"q": "x"}).status_code == 200, model
        assert client.get(_admin_url(obj, "change", obj.pk)).status_code == 200, model


def test_it_never_lets_a_dose_value_be_typed_over(client, staff, world):
    client.force_login(staff)
    study, event = world[Study], world[IrradiationEvent]
    client.post(_admin_url(study, "change", study.pk), {"dlp_total_mgycm": "1"})
    client.post(_admin_url(event, "change", event.pk), {"ctdivol_mgy": "1", "dlp_mgycm": "1"})
    study.refresh_from_db()
    event.refresh_from_db()
    assert study.dlp_total_mgycm == 100.0
    assert (event.ctdivol_mgy, event.dlp_mgycm) == (5.0, 100.0)
    assert client.get(_admin_url(study, "add")).status_code == 403


def test_it_lets_the_room_name_be_set(client, staff, world):
    client.force_login(staff)
    device = world[Device]
    response = client.post(
        _admin_url(device, "change", device.pk), {"display_name": "CT Room 2", "manufacturer": "X"}
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.display_name == "CT Room 2"
    assert device.manufacturer == "SIEMENS"


def test_it_reprocesses_selected_objects_from_the_admin(client, staff, django_capture_on_commit_callbacks):
    client.force_login(staff)
    failed = make_received(status="failed", error="boom")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:ingest_receivedobject_changelist"),
            {"action": "reprocess", "_selected_action": [failed.pk]},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert failed.status == "received"


def test_it_keeps_non_staff_users_out_of_the_admin(logged_in):
    response = logged_in.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url
