"""Columns and file writers of every export: pure, no database.

A column has a name, a canonical unit (DOMAIN.md §4) and a getter that takes
one row (a tuple or dict as the selector gives it). The unit is part of the
header, "DLP (mGy·cm)", so a value never travels without it.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

# Excel takes a UTF-8 file for ANSI without it (and garbles "·" and "²").
UTF8_BOM = "\ufeff"


@dataclass(frozen=True)
class Column:
    name: str
    unit: str = ""
    getter: Callable[[Any], Any] | None = None

    @property
    def header(self) -> str:
        return header(self.name, self.unit)


def header(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def cell(value: Any) -> Any:
    """A value as it goes into a file: local wall-clock time, no None, floats exact.

    Aware datetimes are written in the installation's time zone without offset
    (spreadsheets do not keep offsets); the caller converts before (see `local_naive`).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def local_naive(value: datetime.datetime | None, tz: datetime.tzinfo) -> datetime.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value.replace(microsecond=0)


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, rows_per_chunk: int = 2000,
               bom: bool = True) -> Iterator[bytes]:
    """The CSV file as a stream of byte chunks: constant memory, however many rows.

    Comma separated, "." as decimal mark, RFC 4180 quoting, UTF-8 with BOM.
    Floats are written by `repr`, the shortest form that reads back exactly.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(UTF8_BOM)
    writer.writerow(headers)
    pending = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with path.open("wb") as out:
        for chunk in csv_chunks(headers, rows):
            out.write(chunk)


def write_xlsx(path: Path | BinaryIO, headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Export") -> None:
    """An XLSX workbook in openpyxl's write-only mode: rows go to disk as they come."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Export")
    bold = Font(bold=True)
    head = []
    for text in headers:
        c = WriteOnlyCell(sheet, value=text)
        c.font = bold
        head.append(c)
    sheet.append(head)
    for row in rows:
        sheet.append([None if v is None else (("yes" if v else "no") if isinstance(v, bool) else v) for v in row])
    workbook.save(str(path) if isinstance(path, Path) else path)
