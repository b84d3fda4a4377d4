"""Devices: one row per physical device, whatever its objects call it."""

import pytest

from rdsr.models import Device, Study
from rdsr.services import device_identity_key, dose_record_store

from .factories import ct_event, ct_record, projection_event, projection_record, uid

pytestmark = pytest.mark.django_db


def test_it_keys_a_device_on_its_device_observer_uid():
    ct = ct_record(events=[ct_event()], study_uid=uid(), device_uid="1.2.3.4.5")
    other_name = projection_record(events=[projection_event()], study_uid=uid(), device_uid="1.2.3.4.5")
    other_name.device.station_name = "RENAMED-ROOM"
    dose_record_store(record=ct)
    dose_record_store(record=other_name)

    device = Device.objects.get()
    assert device.identity_key == "1.2.3.4.5"
    assert device.station_name == "ROOM1"
    assert set(Study.objects.values_list("device", flat=True)) == {device.pk}


def test_it_keys_a_device_without_observer_uid_on_its_normalised_names():
    first = ct_record(events=[ct_event()], study_uid=uid(), device_uid=None)
    second = ct_record(events=[ct_event()], study_uid=uid(), device_uid=None)
    second.device.manufacturer = "  acme "
    second.device.model = "SCANNER  9000"
    dose_record_store(record=first)
    dose_record_store(record=second)

    assert Device.objects.get().identity_key == "acme|scanner 9000|room1|42"


def test_it_keeps_devices_with_different_serial_numbers_apart():
    first = ct_record(events=[ct_event()], study_uid=uid(), device_uid=None)
    second = ct_record(events=[ct_event()], study_uid=uid(), device_uid=None)
    second.device.serial_number = "43"
    dose_record_store(record=first)
    dose_record_store(record=second)

    assert Device.objects.count() == 2


def test_it_stores_no_device_when_the_record_names_none():
    record = ct_record(events=[ct_event()], device_uid=None)
    for name in ("manufacturer", "model", "station_name", "serial_number"):
        setattr(record.device, name, None)

    assert device_identity_key(record.device) == ""
    dose_record_store(record=record)
    assert Device.objects.count() == 0
    assert Study.objects.get().device is None


def _image_header_record(study_uid: str):
    record = projection_record(events=[projection_event()], study_uid=study_uid, device_uid=None)
    record.source.kind = "image-header"
    return record


@pytest.mark.parametrize("rdsr_first", [True, False])
def test_the_rdsrs_and_image_headers_of_one_room_are_one_device(rdsr_first):
    rdsr = projection_record(events=[projection_event()], study_uid=uid(), device_uid="1.2.3.4.77")
    header = _image_header_record(uid())
    for record in ([rdsr, header] if rdsr_first else [header, rdsr]):
        dose_record_store(record=record)

    device = Device.objects.get()
    assert (device.identity_key, device.device_observer_uid) == ("1.2.3.4.77", "1.2.3.4.77")
    assert set(Study.objects.values_list("device", flat=True)) == {device.pk}


def test_an_image_header_is_not_joined_to_one_of_two_rooms_with_the_same_names():
    for device_uid in ("1.2.3.4.78", "1.2.3.4.79"):
        dose_record_store(record=projection_record(events=[projection_event()], study_uid=uid(),
                                                   device_uid=device_uid))
    dose_record_store(record=_image_header_record(uid()))
    assert Device.objects.count() == 3


def test_a_batch_of_image_headers_joins_the_room_of_its_rdsr():
    from rdsr.services import dose_records_store

    dose_record_store(record=projection_record(events=[projection_event()], study_uid=uid(),
                                               device_uid="1.2.3.4.80"))
    dose_records_store(records=[_image_header_record(uid()), _image_header_record(uid())])
    assert Device.objects.count() == 1
