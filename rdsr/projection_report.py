"""Projection X-ray dose (TID 10001: DX, MG, RF, XA): plane totals and irradiation events."""

from __future__ import annotations

from rdsr import codes
from rdsr.reading import Reader, iso_datetime
from rdsr.record import Event, MammoTotals, Plane
from rdsr.sr_context import device_participants
from rdsr.sr_tree import Node
from rdsr.units import Quantity as Q

# (concept, quantity, Plane field) for the accumulated data of one plane (TID 10002/10004/10007).
_PLANE_NUMBERS = (
    (codes.DAP_TOTAL, Q.DAP, "dap_total_gycm2"),
    (codes.DOSE_RP_TOTAL, Q.AIR_KERMA, "dose_rp_total_mgy"),
    (codes.FLUORO_DAP_TOTAL, Q.DAP, "fluoro_dap_total_gycm2"),
    (codes.ACQUISITION_DAP_TOTAL, Q.DAP, "acquisition_dap_total_gycm2"),
    (codes.FLUORO_DOSE_RP_TOTAL, Q.AIR_KERMA, "fluoro_dose_rp_total_mgy"),
    (codes.ACQUISITION_DOSE_RP_TOTAL, Q.AIR_KERMA, "acquisition_dose_rp_total_mgy"),
    (codes.TOTAL_FLUORO_TIME, Q.TIME_S, "fluoro_time_total_s"),
    (codes.TOTAL_ACQUISITION_TIME, Q.TIME_S, "acquisition_time_total_s"),
)

# (concept, quantity, Event field) for the numbers of one irradiation event (TID 10003 A-D).
_EVENT_NUMBERS = (
    (codes.DAP, Q.DAP, "dap_gycm2"),
    (codes.DOSE_RP, Q.AIR_KERMA, "dose_rp_mgy"),
    (codes.AGD, Q.AIR_KERMA, "agd_mgy"),
    (codes.ENTRANCE_EXPOSURE, Q.AIR_KERMA, "entrance_exposure_mgy"),
    (codes.HALF_VALUE_LAYER, Q.LENGTH, "hvl_mm"),
    (codes.COMPRESSION_THICKNESS, Q.LENGTH, "compression_thickness_mm"),
    (codes.COMPRESSION_FORCE, Q.FORCE, "compression_force_n"),
    (codes.KVP, Q.VOLTAGE, "kvp"),
    (codes.TUBE_CURRENT, Q.CURRENT, "tube_current_ma"),
    (codes.AVERAGE_TUBE_CURRENT, Q.CURRENT, "average_tube_current_ma"),
    (codes.EXPOSURE, Q.CHARGE, "exposure_mas"),
    (codes.IRRADIATION_DURATION, Q.TIME_S, "irradiation_duration_s"),
    (codes.PULSE_RATE, Q.RATE, "pulse_rate"),
    (codes.NUMBER_OF_PULSES, Q.DIMENSIONLESS, "pulses"),
    (codes.PULSE_WIDTH, Q.TIME_MS, "pulse_width_ms"),
    (codes.FOCAL_SPOT, Q.LENGTH, "focal_spot_mm"),
    (codes.FIELD_AREA, Q.AREA, "field_area_cm2"),
    (codes.FIELD_HEIGHT, Q.LENGTH, "field_height_mm"),
    (codes.FIELD_WIDTH, Q.LENGTH, "field_width_mm"),
    (codes.PRIMARY_ANGLE, Q.ANGLE, "primary_angle_deg"),
    (codes.SECONDARY_ANGLE, Q.ANGLE, "secondary_angle_deg"),
    (codes.PRIMARY_END_ANGLE, Q.ANGLE, "primary_end_angle_deg"),
    (codes.SECONDARY_END_ANGLE, Q.ANGLE, "secondary_end_angle_deg"),
    (codes.COLUMN_ANGULATION, Q.ANGLE, "column_angulation_deg"),
    (codes.SOURCE_TO_DETECTOR, Q.LENGTH, "source_to_detector_mm"),
    (codes.SOURCE_TO_ISOCENTER, Q.LENGTH, "source_to_isocenter_mm"),
    (codes.SOURCE_TO_REFERENCE_POINT, Q.LENGTH, "source_to_reference_point_mm"),
    (codes.TABLE_LONGITUDINAL, Q.LENGTH, "table_longitudinal_mm"),
    (codes.TABLE_LATERAL, Q.LENGTH, "table_lateral_mm"),
    (codes.TABLE_HEIGHT, Q.LENGTH, "table_height_mm"),
    (codes.EXPOSURE_INDEX, Q.DIMENSIONLESS, "exposure_index"),
    (codes.TARGET_EXPOSURE_INDEX, Q.DIMENSIONLESS, "target_exposure_index"),
    (codes.DEVIATION_INDEX, Q.DIMENSIONLESS, "deviation_index"),
)
_EVENT_FIELDS_BY_CODE = {code: (quantity, name) for code, quantity, name in _EVENT_NUMBERS}

# Coded items kept with scheme, value and meaning (they feed skin-dose geometry).
_EVENT_CODED = {
    codes.PATIENT_ORIENTATION: "patient_orientation",
    codes.PATIENT_TABLE_RELATIONSHIP: "patient_table_relationship",
}


def plane_of(node: Node) -> str | None:
    plane = node.first(codes.ACQUISITION_PLANE)
    if plane is None:
        return None
    return codes.PLANES.get(plane.code or "")


def read_planes(root: Node, reader: Reader) -> list[Plane]:
    planes = []
    for accumulated in root.all(codes.ACCUMULATED_XRAY):
        if not any(child.key in _PLANE_KEYS for child in accumulated.children):
            continue  # a mammography-only accumulation (AGD per breast) has no plane totals
        name = plane_of(accumulated)
        plane = Plane(plane=name or "single")  # type: ignore[arg-type]
        if name is None:
            reader.warn("accumulated X-ray dose data without a known acquisition plane; read as single plane")
        for key, quantity, field in _PLANE_NUMBERS:
            setattr(plane, field, reader.number(accumulated.first(key), quantity, field, plane.review))
        plane.frames_total = reader.count(accumulated.first(codes.TOTAL_FRAMES), "frames_total", plane.review)
        plane.reference_point = accumulated.text_of(codes.REFERENCE_POINT_DEFINITION)
        planes.append(plane)
    return planes


_PLANE_KEYS = frozenset(key for key, _, _ in _PLANE_NUMBERS) | {codes.TOTAL_FRAMES}


def read_mammo_totals(root: Node, reader: Reader) -> MammoTotals | None:
    totals = MammoTotals()
    for accumulated in root.all(codes.ACCUMULATED_XRAY):
        for agd in accumulated.all(codes.ACCUMULATED_AGD):
            laterality = agd.first(codes.LATERALITY)
            side = codes.LATERALITIES.get(laterality.code or "") if laterality is not None else None
            key = {"L": "left", "R": "right", "B": "both"}.get(side or "")
            if key is None:
                reader.warn("accumulated average glandular dose without a known laterality; ignored")
                continue
            totals.agd_accumulated_mgy[key] = reader.number(agd, Q.AIR_KERMA, f"agd_accumulated_{key}", totals.review)
    return totals if totals.agd_accumulated_mgy else None


def read_projection_event(node: Node, reader: Reader) -> Event:
    event = Event()
    event.plane = plane_of(node)
    event.irradiation_event_uid = node.text_of(codes.IRRADIATION_EVENT_UID)
    event.datetime_started = iso_datetime(node.text_of(codes.DATETIME_STARTED))
    event.protocol = node.text_of(codes.PROTOCOL)
    event.comment = node.text_of(codes.COMMENT)
    event.device_participants = device_participants(node)
    exposure_time_nodes = []
    for child in node.children:
        key = child.key
        known = _EVENT_FIELDS_BY_CODE.get(key)
        if known is not None:
            quantity, field = known
            value = reader.number(child, quantity, field, event.review)
            setattr(event, field, value)
        elif key == codes.EVENT_TYPE:
            event.event_type, event.event_type_code = child.value_text, child.code
        elif key == codes.TARGET_REGION:
            event.target_region = child.value_text
            _laterality(event, child)
        elif key == codes.ANATOMICAL_STRUCTURE:
            event.anatomical_structure = child.value_text
            _laterality(event, child)
        elif key == codes.IMAGE_VIEW:
            event.view = child.value_text
            _laterality(event, child)
        elif key == codes.LATERALITY:
            _set_laterality(event, child)
        elif key == codes.REFERENCE_POINT_DEFINITION:
            event.reference_point = child.value_text
            event.reference_point_code = child.code_value
        elif key in (codes.EXPOSURE_TIME, codes.EXPOSURE_TIME_OLD):
            exposure_time_nodes.append(child)
        elif key == codes.XRAY_FILTERS:
            event.filters.append(_filter(child, reader, event.review))
        elif key == codes.XRAY_GRID and child.coded:
            event.grids.append(child.coded)
        elif key == codes.ANODE_TARGET:
            event.anode_target = child.value_text
        elif key == codes.FLUORO_MODE:
            event.fluoro_mode = child.value_text
        elif key == codes.MECHANICAL_CONFIGURATION:
            event.mechanical_configuration = child.value_text
        elif key in _EVENT_CODED:
            setattr(event, _EVENT_CODED[key], child.coded)
            modifier = child.first(codes.PATIENT_ORIENTATION_MODIFIER)
            if modifier is not None and key == codes.PATIENT_ORIENTATION:
                event.patient_orientation_modifier = modifier.coded
        elif key == codes.PATIENT_ORIENTATION_MODIFIER:
            event.patient_orientation_modifier = child.coded
    if exposure_time_nodes:
        event.exposure_time_s = reader.number(exposure_time_nodes[0], Q.TIME_S, "exposure_time_s", event.review)
    return event


def _laterality(event: Event, node: Node) -> None:
    modifier = node.first(codes.LATERALITY)
    if modifier is not None:
        _set_laterality(event, modifier)


def _set_laterality(event: Event, node: Node) -> None:
    side = codes.LATERALITIES.get(node.code or "")
    if side is not None:
        event.laterality = side  # type: ignore[assignment]


def _filter(node: Node, reader: Reader, review: list[str]) -> dict:
    return {
        "type": node.text_of(codes.FILTER_TYPE),
        "material": node.text_of(codes.FILTER_MATERIAL),
        "thickness_min_mm": reader.number(node.first(codes.FILTER_THICKNESS_MIN), Q.LENGTH, "filters", review),
        "thickness_max_mm": reader.number(node.first(codes.FILTER_THICKNESS_MAX), Q.LENGTH, "filters", review),
    }
