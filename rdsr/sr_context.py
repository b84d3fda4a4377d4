"""Context items every X-ray dose report shares: observer, device participants, provenance."""

from __future__ import annotations

from typing import Any

from rdsr import codes
from rdsr.record import Device
from rdsr.sr_tree import Node

_OBSERVER_FIELDS = {
    codes.DEVICE_OBSERVER_NAME: "observer_name",
    codes.DEVICE_OBSERVER_MANUFACTURER: "observer_manufacturer",
    codes.DEVICE_OBSERVER_MODEL: "observer_model",
    codes.DEVICE_OBSERVER_SERIAL: "observer_serial_number",
    codes.DEVICE_OBSERVER_LOCATION: "observer_location",
}

_PARTICIPANT_FIELDS = {
    codes.DEVICE_NAME: "name",
    codes.DEVICE_MANUFACTURER: "manufacturer",
    codes.DEVICE_MODEL: "model",
    codes.DEVICE_SERIAL: "serial_number",
    codes.DEVICE_OBSERVER_UID: "device_observer_uid",
}


def apply_observer_context(root: Node, device: Device) -> None:
    """Fill the device observer fields; header values stay first, the SR fills gaps.

    Only the document's own observer context counts (direct children of the
    root), not the device participants nested in events.
    """
    for node in root.children:
        if node.key == codes.DEVICE_OBSERVER_UID and node.text and not device.device_observer_uid:
            device.device_observer_uid = node.text
        field = _OBSERVER_FIELDS.get(node.key)
        if field and node.text and getattr(device, field) is None:
            setattr(device, field, node.text)
    device.manufacturer = device.manufacturer or device.observer_manufacturer
    device.model = device.model or device.observer_model
    device.serial_number = device.serial_number or device.observer_serial_number
    device.station_name = device.station_name or device.observer_name


def device_participants(node: Node) -> list[dict[str, Any]]:
    """TID 1021 device participants among the children of `node`."""
    participants = []
    for role in node.all(codes.DEVICE_ROLE_IN_PROCEDURE):
        participant: dict[str, Any] = {"role": role.value_text}
        for prop in role.children:
            field = _PARTICIPANT_FIELDS.get(prop.key)
            if field and prop.text:
                participant[field] = prop.text
        participants.append(participant)
    return participants
