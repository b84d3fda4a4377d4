"""Column headers and file writers, without a database."""

import csv
import datetime
import io

from openpyxl import load_workbook

from exports.columns import Column, csv_chunks, local_naive, write_xlsx


def test_every_header_states_its_unit():
    assert Column("DLP", "mGy·cm").header == "DLP (mGy·cm)"
    assert Column("DAP", "Gy·cm²").header == "DAP (Gy·cm²)"
    assert Column("Room").header == "Room"


def test_the_csv_starts_with_a_bom_and_writes_floats_exactly_and_none_as_empty():
    data = b"".join(csv_chunks(["DLP (mGy·cm)", "Room", "Not a patient"], [(512.3, None, False), (0.1 + 0.2, "CT, 1", True)]))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["DLP (mGy·cm)", "Room", "Not a patient"], ["512.3", "", "no"], ["0.30000000000000004", "CT, 1", "yes"]]


def test_the_csv_comes_in_chunks_without_holding_the_rows():
    def rows():
        for i in range(10_000):
            yield (i, float(i))

    chunks = csv_chunks(["n", "value (mGy)"], rows(), rows_per_chunk=1000)
    first = next(chunks)
    assert first.count(b"\r\n") == 1001  # header and one chunk of rows, not the whole file
    assert sum(c.count(b"\r\n") for c in chunks) == 9000


def test_the_xlsx_opens_with_openpyxl_and_keeps_numbers_as_numbers(tmp_path):
    path = tmp_path / "out.xlsx"
    write_xlsx(path, ["Study date", "DLP (mGy·cm)"], [(datetime.date(2024, 3, 1), 512.3), (None, None)], title="Studies")
    sheet = load_workbook(path, read_only=True)["Studies"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Study date", "DLP (mGy·cm)")
    assert rows[1][0].date() == datetime.date(2024, 3, 1) and rows[1][1] == 512.3
    assert not any(rows[2])  # an empty row: no "None" text, no 0


def test_aware_times_are_written_in_local_wall_clock_time():
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    utc = datetime.datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=datetime.UTC)
    assert local_naive(utc, berlin) == datetime.datetime(2024, 3, 1, 9, 30, 15)
