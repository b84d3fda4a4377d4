"""Patient height and weight from a CSV file keyed by accession number: pure parsing, no database.

What a RIS or a spreadsheet exports varies, so the reader is tolerant:

- encoding: UTF-8 with or without byte-order mark; anything else is read as
  Windows-1252 (Excel's "CSV" on Windows), which covers Latin-1 text;
- separator: comma, semicolon or tab, whichever the header line uses most;
- header names: the accession column is any header starting with "acc"
  ("Acc num", "Accession number", "accession"); height is "height", "size" or
  "Größe"; weight is "weight", "mass" or "Gewicht";
- units: stated in the header ("height(cm)", "height (m)", "height [mm]",
  "height_cm", "weight(kg)"). Weight must be in kg. A height column without
  a unit is decided per value: above 3 it is centimetres, else metres (nobody
  is 3 m tall or 3 cm long), and a warning says so;
- numbers: decimal point or decimal comma ("80,6").

Each row becomes a SizeRow (height in m, weight in kg: DOMAIN.md §4) or a
RowProblem with the reason; a file that cannot be read at all (no accession
column, no height or weight column, not text) raises SizeFileInvalid.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

# Plausible for anyone from a premature newborn to the tallest/heaviest adults;
# a value outside is a typing or unit error, and the row is refused.
HEIGHT_M_RANGE = (0.2, 2.6)
WEIGHT_KG_RANGE = (0.3, 400.0)
# Without a unit, heights above this are centimetres.
UNITLESS_HEIGHT_CM_ABOVE = 3.0

_HEIGHT_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}


class SizeFileInvalid(ValueError):
    """The file as a whole cannot be read as a patient-size CSV."""


@dataclass
class SizeRow:
    line: int
    accession_number: str
    height_m: float | None
    weight_kg: float | None


@dataclass
class RowProblem:
    line: int
    accession_number: str
    reason: str
    text: str  # the row as it was in the file


@dataclass
class SizeFile:
    rows: list[SizeRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    height_unit: str = ""  # "m" | "cm" | "mm" | "" (decided per value)


def size_csv_parse(data: bytes) -> SizeFile:
    text = _decode(data)
    lines = text.splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise SizeFileInvalid("the file is empty")
    delimiter = _delimiter(lines[header_index])
    reader = csv.reader(io.StringIO("\n".join(lines[header_index:])), delimiter=delimiter)
    header = next(reader)
    columns = _columns(header)
    result = SizeFile(height_unit=columns.height_unit)
    if columns.height is not None and not columns.height_unit:
        result.warnings.append(
            f"The height column '{header[columns.height].strip()}' states no unit: values above "
            f"{UNITLESS_HEIGHT_CM_ABOVE:g} were read as centimetres, the others as metres."
        )
    first_line: dict[str, int] = {}
    for offset, cells in enumerate(reader):
        line = header_index + offset + 2  # 1-based, the header is line header_index + 1
        if not any(c.strip() for c in cells):
            continue
        row_text = delimiter.join(cells)
        accession = _cell(cells, columns.accession)
        try:
            if not accession:
                raise _RowInvalid("no accession number")
            if accession in first_line:
                raise _RowInvalid(f"accession number already given on line {first_line[accession]}")
            height = _height(_cell(cells, columns.height), columns.height_unit)
            weight = _weight(_cell(cells, columns.weight))
            if height is None and weight is None:
                raise _RowInvalid("neither height nor weight given")
        except _RowInvalid as exc:
            result.problems.append(
                RowProblem(line=line, accession_number=accession, reason=str(exc), text=row_text)
            )
            continue
        first_line[accession] = line
        result.rows.append(SizeRow(line=line, accession_number=accession, height_m=height, weight_kg=weight))
    return result


class _RowInvalid(ValueError):
    pass


@dataclass
class _Columns:
    accession: int
    height: int | None
    weight: int | None
    height_unit: str


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise SizeFileInvalid("this is not a text file (CSV expected)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(header: list[str]) -> _Columns:
    accession = height = weight = None
    height_unit = ""
    for index, raw in enumerate(header):
        name, unit = _name_and_unit(raw)
        if (name.startswith("acc") or "accession" in name) and accession is None:
            accession = index
        elif any(w in name for w in ("height", "size", "größe", "groesse", "grösse")) and height is None:
            if unit and unit not in _HEIGHT_UNITS:
                raise SizeFileInvalid(f"height column '{raw.strip()}': unit '{unit}' is not m, cm or mm")
            height, height_unit = index, unit
        elif any(w in name for w in ("weight", "mass", "gewicht")) and weight is None:
            if unit and unit != "kg":
                raise SizeFileInvalid(f"weight column '{raw.strip()}': unit '{unit}' is not kg")
            weight = index
    found = ", ".join(f"'{h.strip()}'" for h in header)
    if accession is None:
        raise SizeFileInvalid(f"no accession number column (such as 'Accession number') among {found}")
    if height is None and weight is None:
        raise SizeFileInvalid(
            f"no height or weight column (such as 'height(cm)', 'weight(kg)') among {found}"
        )
    return _Columns(accession=accession, height=height, weight=weight, height_unit=height_unit)


_UNIT_IN_HEADER = re.compile(
    r"^(?P<name>.*?)[\s_]*(?:[(\[]\s*(?:in\s+)?(?P<a>[a-z]+)\s*[)\]]|[\s_]+(?:in\s+)?(?P<b>cm|mm|m|kg))$"
)


def _name_and_unit(raw: str) -> tuple[str, str]:
    text = " ".join(raw.strip().casefold().split())
    match = _UNIT_IN_HEADER.match(text)
    if match:
        return match["name"].strip(), (match["a"] or match["b"] or "")
    return text, ""


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    cleaned = text.replace(" ", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise _RowInvalid(f"{what} '{text}' is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _RowInvalid(f"{what} '{text}' is not a number")
    return value


def _height(text: str, unit: str) -> float | None:
    value = _number(text, "height")
    if value is None:
        return None
    if unit:
        metres = value * _HEIGHT_UNITS[unit]
    else:
        metres = value / 100 if value > UNITLESS_HEIGHT_CM_ABOVE else value
    low, high = HEIGHT_M_RANGE
    if not low <= metres <= high:
        raise _RowInvalid(f"height '{text}' is {metres:g} m, outside {low:g}–{high:g} m")
    return round(metres, 4)


def _weight(text: str) -> float | None:
    value = _number(text, "weight")
    if value is None:
        return None
    low, high = WEIGHT_KG_RANGE
    if not low <= value <= high:
        raise _RowInvalid(f"weight '{text}' kg is outside {low:g}–{high:g} kg")
    return value
