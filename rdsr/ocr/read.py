"""Read a bitmap CT dose screen into a dose record (kind "ocr"), every doubtful value marked for review.

    read_dose_screen(ds, template=None, path=None) -> DoseRecord

OCR gets digits wrong now and then (a leading "I" read as "1", a lost decimal
point, "8" for "3" under noise), so no value read is taken on trust alone:
each must have the decimals its layout draws, a plausible size, tesseract's
confidence above a threshold, and a DLP consistent with its CTDIvol; the event
DLPs must add up to the total the screen states. A value failing any check
goes into its event's (or the totals') `review` list, which keeps it out of
totals and statistics until a person confirms or corrects it beside the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image
from pydicom.dataset import Dataset

from rdsr.ocr.image import ScreenUnreadable, binarised, prepared_for_ocr, screen_pixels
from rdsr.ocr.templates import LOCALIZER, TEMPLATES, Reading, ScreenTable, read_number
from rdsr.ocr.words import Line, read_cells, read_lines
from rdsr.record import CtTotals, DoseRecord, Event

# Below this tesseract confidence a value is not taken without a person's look.
CONFIDENCE_THRESHOLD = 0.80
# Plausible ranges (DOMAIN.md: alert levels are 80-120 mGy CTDIvol; perfusion reaches a few hundred).
PLAUSIBLE = {"ctdivol_mgy": (0.0, 300.0), "dlp_mgycm": (0.0, 20000.0), "dlp_total_mgycm": (0.0, 50000.0)}
# DLP / (CTDIvol x planned length): over-ranging adds a few cm, never halves or triples it.
LENGTH_RATIO = (0.85, 2.5)
# Without a length: DLP / CTDIvol is the irradiated length in cm (a bolus
# tracking scan covers 1 cm; a localizer at least a few).
EFFECTIVE_LENGTH_CM = (0.3, 250.0)
LOCALIZER_LENGTH_CM = (5.0, 250.0)
# Widths (px) of the second and third looks at a screen with values in doubt.
SECOND_LOOK_WIDTHS = (1400, 2300)
DERIVED_FROM_REPORT = "Derived From Human-Readable Reports"  # DCM 113868
FIELDS = ("ctdivol_mgy", "dlp_mgycm")


@dataclass
class ScreenReading:
    """What OCR made of one screen with one template, before it becomes a record."""

    table: ScreenTable
    events: list[Event]
    totals: CtTotals
    warnings: list[str]
    score: float
    lines: list[Line] = field(default_factory=list)
    image: Image.Image | None = None  # the grey image read, for reading cells again


def read_dose_screen(ds: Dataset, *, template: str | None = None, path: str | None = None) -> DoseRecord:
    """OCR the screen; `template` names a layout in TEMPLATES, None or "" tries all and keeps the best."""
    from rdsr.parse import parse_dataset

    if template and template not in TEMPLATES:
        raise ValueError(f"unknown OCR template {template!r}; known: {', '.join(TEMPLATES)}")
    record = parse_dataset(ds, path=path)
    image = screen_pixels(ds)
    reading = _read_at(image, None, template)
    if _doubtful(reading):
        # Tesseract's slips depend on the size of the glyphs: a second look at
        # another scale often reads what the first garbled. Both readings pass
        # the same checks; the one with fewer values in review is kept.
        for width in SECOND_LOOK_WIDTHS:
            try:
                other = _read_at(image, width, template)
            except ScreenUnreadable:
                continue
            if _doubtful(other) < _doubtful(reading):
                other.warnings.append(f"read at a second scale ({width} px wide): fewer values in doubt")
                reading = other
            if not _doubtful(reading):
                break
    reading = _second_opinion(reading)
    record.source.kind = "ocr"
    record.source.ocr_pending = False
    record.source.dose_information_source = DERIVED_FROM_REPORT
    record.study.modality = "CT"
    record.events = reading.events
    record.ct_totals = reading.totals
    record.warnings = [w for w in record.warnings if "read by OCR" not in w] + reading.warnings
    return record


def _read_at(image: Image.Image, width: int | None, template: str | None) -> ScreenReading:
    grey = prepared_for_ocr(image, binarise=False, **({"width": width} if width else {}))
    reading = read_lines_as_record(read_lines(binarised(grey)), template=template)
    reading.image = grey
    return reading


def _second_opinion(reading: ScreenReading) -> ScreenReading:
    """Every value read again alone (its cell cropped, digits only); values then re-checked.

    Two readings that agree change nothing. When they differ, a value that
    passed every check goes to review (the second reading in the warnings); a
    doubtful one is replaced by a well-formed second reading, and stays in
    review unless the table's arithmetic then makes it certain.
    """
    table = reading.table
    if reading.image is None:
        return reading
    cells = [(row.values, name) for row in table.rows if not row.blank for name in FIELDS
             if (r := row.values.get(name)) is not None and r.box is not None]
    holder = {"dlp_total_mgycm": table.total}
    if table.total is not None and table.total.box is not None:
        cells.append((holder, "dlp_total_mgycm"))
    if not cells:
        return reading
    alone = read_cells(reading.image, [values[name].box for values, name in cells])
    for (values, name), second_read in zip(cells, alone, strict=True):
        first = values[name]
        if second_read is None:
            continue
        second = read_number(second_read[0], second_read[1], decimals=first.decimals)
        if second.value is not None and first.value is not None and abs(second.value - first.value) < 1e-9:
            continue
        low, high = PLAUSIBLE[name]
        well_formed = second.value is not None and not _doubts(name, second) and low <= second.value <= high
        if _doubts(name, first) and well_formed:
            second.box, second.second_look = first.box, True
            second.doubts.append(f"'{first.text}' in its row, '{second.text}' read alone")
            values[name] = second
        elif not _doubts(name, first):
            first.doubts.append(f"read alone as '{second_read[0]}'")
    table.total = holder["dlp_total_mgycm"]
    checked = _check(table, reading.lines)
    checked.warnings = reading.warnings[:1] + [w for w in reading.warnings[1:] if w.startswith(("the device's",
                                                                                               "read at a"))] \
        + checked.warnings
    checked.image, checked.lines = reading.image, reading.lines
    return checked


def read_lines_as_record(lines: list[Line], *, template: str | None = None) -> ScreenReading:
    """The best reading of the lines (with the given template, or any); raise when none finds a dose table."""
    if not any(line.words for line in lines):
        raise ScreenUnreadable("OCR found no text on the dose screen")
    names = [template] if template else list(TEMPLATES)
    readings = [_check(TEMPLATES[name].parse(lines), lines) for name in names]
    # A total alone is no dose table for a template chosen per device (any
    # "Total ... 123" line would do); automatic choice may keep it.
    readings = [r for r in readings if r.table.rows or (r.table.total is not None and not template)]
    fallback = False
    if not readings and template:
        # The device's layout changed (software update) or was set wrongly: any
        # other layout is better than nothing, and the warning says so.
        readings = [_check(t.parse(lines), lines) for name, t in TEMPLATES.items() if name != template]
        readings = [r for r in readings if r.table.rows or r.table.total is not None]
        fallback = True
    if not readings:
        tried = ", ".join(names)
        first = " / ".join(line.text for line in lines[:3])[:120]
        raise ScreenUnreadable(f"no dose table recognised on the screen (templates tried: {tried}; text begins "
                               f"{first!r})")
    best = max(readings, key=lambda r: r.score)
    chosen = TEMPLATES[best.table.template]
    how = "chosen for the device" if template and not fallback else "best of all templates"
    best.warnings.insert(0, f"read by OCR with template {chosen.name} ({chosen.title}), {how}")
    if fallback:
        best.warnings.insert(1, f"the device's OCR template {template} found no dose table on this screen")
    return best


def _check(table: ScreenTable, lines: list[Line]) -> ScreenReading:
    warnings: list[str] = []
    events: list[Event] = []
    for position, row in enumerate(table.rows, start=1):
        event = Event(event_type=row.event_type, protocol=row.label, phantom=row.phantom,
                      scanning_length_mm=row.scanning_length_mm, kvp=row.kvp)
        event.ocr_line = row.line  # kept in the stored event's details: what was read
        if row.blank:
            events.append(event)
            continue
        read_as: dict[str, str] = {}
        for name in FIELDS:
            reading = row.values.get(name)
            if reading is None or reading.value is None:
                event.review.append(name)
                event.confidence[name] = 0.0 if reading is None else round(reading.confidence, 3)
                why = "not found" if reading is None else "; ".join(reading.doubts)
                warnings.append(f"row {position}: {_label(name)} {why}")
                continue
            setattr(event, name, reading.value)
            event.confidence[name] = round(reading.confidence, 3)
            read_as[name] = reading.text
            for doubt in _doubts(name, reading):
                _flag(event, name)
                warnings.append(f"row {position}: {_label(name)} {doubt}")
        event.ocr_read = read_as
        _check_consistency(event, position, warnings)
        events.append(event)

    totals = CtTotals(event_count=len(events))
    total = table.total
    if total is None:
        # Nothing to check the rows against: a row missed or misread goes unseen.
        warnings.append("no total DLP found on the screen: the values cannot be cross-checked")
        for event in events:
            _flag(event, *(name for name in FIELDS if getattr(event, name) is not None))
    else:
        totals.dlp_total_mgycm = total.value
        totals.confidence["dlp_total_mgycm"] = round(total.confidence, 3)
        warnings.append(f"total DLP read as '{total.text}' (confidence {total.confidence:.2f})")
        for doubt in _doubts("dlp_total_mgycm", total):
            _flag(totals, "dlp_total_mgycm")
            warnings.append(f"total DLP {doubt}")
        if total.value is not None:
            _check_sum(table, events, total, totals, warnings)
    if table.not_understood:
        warnings.append("lines not understood as dose rows: " + " | ".join(table.not_understood)[:300])

    flagged = sum(len(e.review) for e in events) + len(totals.review)
    valued = sum(1 for e in events for name in FIELDS if getattr(e, name) is not None)
    agreed = total is not None and "dlp_total_mgycm" not in totals.review
    marker = TEMPLATES[table.template].marker_score(lines)
    score = 2 * valued + (3 if total is not None else 0) + (5 if agreed else 0) + marker - 0.5 * flagged
    return ScreenReading(table=table, events=events, totals=totals, warnings=warnings, score=score, lines=lines)


def _doubtful(reading: ScreenReading) -> int:
    return sum(len(e.review) for e in reading.events) + len(reading.totals.review)


def _doubts(name: str, reading: Reading) -> list[str]:
    doubts = list(reading.doubts)
    if reading.confidence < CONFIDENCE_THRESHOLD:
        doubts.append(f"'{reading.text}' read with low confidence {reading.confidence:.2f}")
    low, high = PLAUSIBLE[name]
    if reading.value is not None and not low <= reading.value <= high:
        doubts.append(f"{reading.value:g} is outside the plausible {low:g}-{high:g}")
    return doubts


def _check_consistency(event: Event, position: int, warnings: list[str]) -> None:
    ctdivol, dlp = event.ctdivol_mgy, event.dlp_mgycm
    if not ctdivol or dlp is None:
        return
    if event.scanning_length_mm:
        ratio = dlp / (ctdivol * event.scanning_length_mm / 10)
        if not LENGTH_RATIO[0] <= ratio <= LENGTH_RATIO[1]:
            _flag(event, "ctdivol_mgy", "dlp_mgycm")
            warnings.append(f"row {position}: DLP {dlp:g} is {ratio:.2f} x CTDIvol {ctdivol:g} x scan length "
                            f"{event.scanning_length_mm:g} mm (expected {LENGTH_RATIO[0]}-{LENGTH_RATIO[1]})")
        return
    length_cm = dlp / ctdivol
    low, high = LOCALIZER_LENGTH_CM if event.event_type == LOCALIZER else EFFECTIVE_LENGTH_CM
    if not low <= length_cm <= high:
        _flag(event, "ctdivol_mgy", "dlp_mgycm")
        warnings.append(f"row {position}: DLP {dlp:g} / CTDIvol {ctdivol:g} = {length_cm:.1f} cm irradiated, "
                        "not a plausible length")


def _check_sum(table: ScreenTable, events: list[Event], total: Reading, totals: CtTotals,
               warnings: list[str]) -> None:
    rows_with_dose = [(row, ev) for row, ev in zip(table.rows, events, strict=True) if not row.blank]
    missing = [ev for _, ev in rows_with_dose if ev.dlp_mgycm is None]
    if missing:
        _flag(totals, "dlp_total_mgycm")
        warnings.append(f"{len(missing)} event DLP(s) not read: the total DLP cannot be cross-checked")
        return
    added = sum(ev.dlp_mgycm for _, ev in rows_with_dose)
    # The console adds unrounded values: allow half a unit of the last digit of each.
    tolerance = _half_unit(total.text) + sum(_half_unit(row.values["dlp_mgycm"].text) for row, _ in rows_with_dose)
    doubtful = [ev for _, ev in rows_with_dose if "dlp_mgycm" in ev.review]
    if len(doubtful) == 1 and "dlp_total_mgycm" not in totals.review:
        # One DLP in doubt, the total and every other DLP certain: the
        # doubtful one is the total less the others.
        ev = doubtful[0]
        derived = round(total.value - sum(e.dlp_mgycm for _, e in rows_with_dose if e is not ev), 6)
        position = events.index(ev) + 1
        if abs(derived - ev.dlp_mgycm) < 1e-6:
            # Exactly, not within rounding: a misread digit anywhere breaks it.
            ev.review.remove("dlp_mgycm")
            warnings.append(f"row {position}: DLP {ev.dlp_mgycm:g} confirmed by the total: {total.value:g} less the "
                            "other rows")
        else:
            warnings.append(f"row {position}: DLP read as {ev.dlp_mgycm:g}, the total less the other rows gives "
                            f"{derived:g}")
    if abs(added - total.value) > tolerance + 1e-9:
        # A misread DLP, or a row missed or read twice: rows may be out of
        # step with the screen, so no value of the table is certain.
        _flag(totals, "dlp_total_mgycm")
        for _, ev in rows_with_dose:
            _flag(ev, *FIELDS)
        warnings.append(f"event DLPs add up to {added:.2f} mGy·cm, the screen states {total.value:g}: "
                        "every value needs review")


def _half_unit(text: str) -> float:
    cleaned = text.strip().rstrip(".,:;*'\"").replace(",", ".")
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    return 0.5 * 10**-decimals


def _flag(owner: Event | CtTotals, *names: str) -> None:
    for name in names:
        if name not in owner.review:
            owner.review.append(name)


def _label(name: str) -> str:
    return {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dlp_total_mgycm": "total DLP"}[name]


def is_localizer(event: Event) -> bool:
    return event.event_type == LOCALIZER
