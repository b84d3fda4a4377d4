"""CT radiation dose (TID 10011): accumulated data and one event per CT acquisition."""

from __future__ import annotations

from rdsr import codes
from rdsr.reading import Reader
from rdsr.record import CtTotals, DoseCheck, Event, XraySource
from rdsr.sr_context import device_participants
from rdsr.sr_tree import Node
from rdsr.units import Quantity as Q

_YES_NO = {codes.YES: True, codes.NO: False}


def read_ct_totals(root: Node, reader: Reader) -> CtTotals | None:
    accumulated = root.first(codes.CT_ACCUMULATED)
    if accumulated is None:
        return None
    totals = CtTotals()
    totals.event_count = reader.count(accumulated.first(codes.TOTAL_EVENTS), "event_count", totals.review)
    totals.dlp_total_mgycm = reader.number(
        accumulated.first(codes.CT_DLP_TOTAL), Q.DLP, "dlp_total_mgycm", totals.review
    )
    return totals


def read_ct_event(node: Node, reader: Reader) -> Event:
    event = Event()
    review = event.review
    event.irradiation_event_uid = node.text_of(codes.IRRADIATION_EVENT_UID)
    event.protocol = node.text_of(codes.PROTOCOL)
    event.target_region = node.text_of(codes.TARGET_REGION)
    event.procedure_context = node.text_of(codes.PROCEDURE_CONTEXT)
    event.comment = node.text_of(codes.COMMENT)
    acquisition_type = node.first(codes.CT_ACQUISITION_TYPE)
    if acquisition_type is not None:
        event.event_type = acquisition_type.value_text
        event.event_type_code = acquisition_type.code
    event.device_participants = device_participants(node)

    params = node.first(codes.CT_ACQUISITION_PARAMETERS) or node
    event.exposure_time_s = reader.number(
        params.first(codes.EXPOSURE_TIME) or params.first(codes.EXPOSURE_TIME_OLD), Q.TIME_S, "exposure_time_s", review
    )
    event.scanning_length_mm = reader.number(params.first(codes.SCANNING_LENGTH), Q.LENGTH, "scanning_length_mm", review)
    event.single_collimation_mm = reader.number(
        params.first(codes.SINGLE_COLLIMATION), Q.LENGTH, "single_collimation_mm", review
    )
    event.total_collimation_mm = reader.number(
        params.first(codes.TOTAL_COLLIMATION), Q.LENGTH, "total_collimation_mm", review
    )
    event.pitch = reader.number(params.first(codes.PITCH), Q.DIMENSIONLESS, "pitch", review)
    event.xray_source_count = reader.count(params.first(codes.NUMBER_OF_SOURCES), "xray_source_count", review)
    sources = [_read_source(s, reader, review) for s in params.all(codes.CT_SOURCE_PARAMETERS)]
    if sources:
        first = sources[0]
        event.kvp = first.kvp
        event.tube_current_ma = first.tube_current_ma
        event.max_tube_current_ma = first.max_tube_current_ma
        event.exposure_time_per_rotation_s = first.exposure_time_per_rotation_s
    if len(sources) > 1:
        event.sources = sources

    dose = node.first(codes.CT_DOSE) or node
    event.ctdivol_mgy = reader.number(dose.first(codes.MEAN_CTDIVOL), Q.AIR_KERMA, "ctdivol_mgy", review)
    event.dlp_mgycm = reader.number(dose.first(codes.DLP), Q.DLP, "dlp_mgycm", review)
    event.ssde_mgy = reader.number(node.find(codes.SSDE), Q.AIR_KERMA, "ssde_mgy", review)
    phantom = dose.first(codes.PHANTOM_TYPE)
    if phantom is not None:
        event.phantom = codes.PHANTOMS.get(phantom.code or "")  # type: ignore[assignment]
        if event.phantom is None:
            review.append("phantom")
            reader.warn(f"CTDIw phantom type {phantom.code} {phantom.code_meaning!r} is not a known "
                        f"phantom code; phantom left empty for review")
    event.dose_check = _read_dose_check(node, reader, review)
    return event


def _read_source(node: Node, reader: Reader, review: list[str]) -> XraySource:
    return XraySource(
        identification=node.text_of(codes.SOURCE_ID),
        kvp=reader.number(node.first(codes.KVP), Q.VOLTAGE, "kvp", review),
        tube_current_ma=reader.number(node.first(codes.TUBE_CURRENT), Q.CURRENT, "tube_current_ma", review),
        max_tube_current_ma=reader.number(
            node.first(codes.MAX_TUBE_CURRENT), Q.CURRENT, "max_tube_current_ma", review
        ),
        exposure_time_per_rotation_s=reader.number(
            node.first(codes.EXPOSURE_TIME_PER_ROTATION), Q.TIME_S, "exposure_time_per_rotation_s", review
        ),
    )


def _read_dose_check(event_node: Node, reader: Reader, review: list[str]) -> DoseCheck | None:
    alert = event_node.find(codes.DOSE_CHECK_ALERT)
    notification = event_node.find(codes.DOSE_CHECK_NOTIFICATION)
    if alert is None and notification is None:
        return None
    check = DoseCheck()
    if alert is not None:
        check.dlp_alert_configured = _yes_no(alert.first(codes.DLP_ALERT_CONFIGURED))
        check.ctdivol_alert_configured = _yes_no(alert.first(codes.CTDIVOL_ALERT_CONFIGURED))
        check.dlp_alert_mgycm = reader.number(alert.first(codes.DLP_ALERT_VALUE), Q.DLP, "dose_check", review)
        check.ctdivol_alert_mgy = reader.number(
            alert.first(codes.CTDIVOL_ALERT_VALUE), Q.AIR_KERMA, "dose_check", review
        )
        check.accumulated_dlp_forward_estimate_mgycm = reader.number(
            alert.first(codes.ACCUMULATED_DLP_FORWARD), Q.DLP, "dose_check", review
        )
        check.accumulated_ctdivol_forward_estimate_mgy = reader.number(
            alert.first(codes.ACCUMULATED_CTDIVOL_FORWARD), Q.AIR_KERMA, "dose_check", review
        )
        check.reason_for_proceeding = alert.text_of(codes.REASON_FOR_PROCEEDING)
        check.person = alert.text_of(codes.PERSON_NAME)
    if notification is not None:
        check.dlp_notification_configured = _yes_no(notification.first(codes.DLP_NOTIFICATION_CONFIGURED))
        check.ctdivol_notification_configured = _yes_no(notification.first(codes.CTDIVOL_NOTIFICATION_CONFIGURED))
        check.dlp_notification_mgycm = reader.number(
            notification.first(codes.DLP_NOTIFICATION_VALUE), Q.DLP, "dose_check", review
        )
        check.ctdivol_notification_mgy = reader.number(
            notification.first(codes.CTDIVOL_NOTIFICATION_VALUE), Q.AIR_KERMA, "dose_check", review
        )
        check.dlp_forward_estimate_mgycm = reader.number(notification.first(codes.DLP_FORWARD), Q.DLP, "dose_check", review)
        check.ctdivol_forward_estimate_mgy = reader.number(
            notification.first(codes.CTDIVOL_FORWARD), Q.AIR_KERMA, "dose_check", review
        )
        check.reason_for_proceeding = check.reason_for_proceeding or notification.text_of(codes.REASON_FOR_PROCEEDING)
        check.person = check.person or notification.text_of(codes.PERSON_NAME)
    return check


def _yes_no(node: Node | None) -> bool | None:
    return None if node is None else _YES_NO.get(node.code or "")
