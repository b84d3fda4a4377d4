"""Reading values out of SR nodes: numbers in canonical units, dates, codes.

Every oddity becomes a warning (and, for a number we cannot trust, the field
name in the owner's `review` list); nothing here raises for bad content.
"""

from __future__ import annotations

from rdsr.sr_tree import Node
from rdsr.units import Quantity, convert, implausible


class Reader:
    """Collects the warnings of one record while values are read."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self._seen: set[str] = set(warnings)

    def warn(self, message: str) -> None:
        if message not in self._seen:
            self._seen.add(message)
            self.warnings.append(message)

    def number(self, node: Node | None, quantity: Quantity, field: str, review: list[str]) -> float | None:
        """The value of a NUM node converted to the canonical unit of `quantity`.

        A unit we do not know keeps the raw number, puts `field` under review and
        says so; so does an implausible value. A TEXT item holding a number is read
        the same way but always goes to review (no unit can be known).
        """
        if node is None:
            return None
        if node.vt != "NUM":
            return self._number_from_text(node, field, review)
        if node.numbers is None:
            if node.num_error and node.num_error != "no measured value":
                self.warn(f"{node.label}: {node.num_error}; ignored")
            return None
        if len(node.numbers) > 1 and quantity in _DOSE_QUANTITIES:
            # Per-pulse kVp or mA may be averaged; several values of a dose may not
            # (a sum? a repeat?): keep the first and let a person decide.
            _flag(review, field)
            self.warn(f"{node.label}: {len(node.numbers)} values for one dose ({node.numbers[:4]}...); "
                      f"first kept in {field} for review")
            raw = node.numbers[0]
        else:
            raw = _one_value(node.numbers)
        converted = convert(quantity, raw, node.unit)
        if not converted.ok:
            _flag(review, field)
            self.warn(f"{node.label} = {raw:g} [{node.unit or 'no unit'}]: {converted.note}; "
                      f"kept unconverted in {field} for review")
        elif converted.note:
            self.warn(converted.note)
        value = converted.value
        if implausible(field, value):
            _flag(review, field)
            self.warn(f"{node.label} = {value:g} in {field} is implausible; flagged for review")
        return value

    def _number_from_text(self, node: Node, field: str, review: list[str]) -> float | None:
        text = node.value_text
        try:
            value = float(text) if text is not None else None
        except ValueError:
            value = None
        if value is None:
            self.warn(f"{node.label}: expected a NUM item, found {node.vt or 'no value type'} "
                      f"{text!r}; ignored")
            return None
        _flag(review, field)
        self.warn(f"{node.label}: number {value:g} sent as {node.vt} without a unit; "
                  f"kept in {field} for review")
        return value

    def count(self, node: Node | None, field: str, review: list[str]) -> int | None:
        value = self.number(node, Quantity.DIMENSIONLESS, field, review)
        if value is None:
            return None
        if value != int(value):
            _flag(review, field)
            self.warn(f"{node.label} = {value:g} is not a whole number; flagged for review")
        return int(round(value))


_DOSE_QUANTITIES = frozenset({Quantity.DAP, Quantity.AIR_KERMA, Quantity.DLP})


def _flag(review: list[str], field: str) -> None:
    if field not in review:
        review.append(field)


def _one_value(numbers: list[float]) -> float:
    """One value for an item that may carry per-pulse values.

    Some fluoroscopy units send kVp, mA or pulse width once per pulse, with 0 for
    pulses that carry no data: the event's value is the mean over the others.
    """
    if len(numbers) == 1:
        return numbers[0]
    nonzero = [v for v in numbers if v != 0]
    return sum(nonzero) / len(nonzero) if nonzero else 0.0


def iso_date(text: str | None) -> str | None:
    """DICOM DA (YYYYMMDD, or the old YYYY.MM.DD) -> YYYY-MM-DD."""
    if not text:
        return None
    digits = text.strip().replace(".", "").replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def iso_time(text: str | None, *, seconds_only: bool = False) -> str | None:
    """DICOM TM (HHMMSS.FFFFFF, or HH:MM:SS) -> HH:MM:SS[.ffffff]."""
    if not text:
        return None
    text = text.strip().replace(":", "")
    main, _, fraction = text.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return None
    main = main.ljust(6, "0")
    hms = f"{main[:2]}:{main[2:4]}:{main[4:6]}"
    fraction = "".join(ch for ch in fraction if ch.isdigit())[:6]
    if seconds_only or not fraction:
        return hms
    return f"{hms}.{fraction.ljust(6, '0')}"


def iso_datetime(text: str | None) -> str | None:
    """DICOM DT (YYYYMMDDHHMMSS.FFFFFF&ZZXX) -> ISO 8601."""
    if not text:
        return None
    text = text.strip()
    offset = ""
    for sign in ("+", "-"):
        if sign in text[8:]:
            head, _, zone = text.rpartition(sign)
            if len(zone) == 4 and zone.isdigit():
                text, offset = head, f"{sign}{zone[:2]}:{zone[2:]}"
            break
    date = iso_date(text[:8])
    if date is None:
        return None
    if len(text) <= 8:
        return date
    time = iso_time(text[8:])
    return f"{date}T{time}{offset}" if time else date
