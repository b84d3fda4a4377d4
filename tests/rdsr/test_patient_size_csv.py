"""Reading patient-size CSV files as RIS and spreadsheets write them (no database)."""

import pytest

from rdsr.patient_size import SizeFileInvalid, size_csv_parse


def _rows(data: bytes):
    return [(r.accession_number, r.height_m, r.weight_kg) for r in size_csv_parse(data).rows]


def test_it_reads_heights_in_centimetres_as_metres_when_the_header_says_cm():
    assert _rows(b"Acc num,height(cm),weight(kg)\nACC12345601,170,90\n00938475,198,102.3\n") == [
        ("ACC12345601", 1.7, 90.0),
        ("00938475", 1.98, 102.3),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "Accession number,Height (m),Weight (kg)",
        "accession,height [m],weight in kg",
        "ACC NO,Height_m,Weight_kg",
    ],
)
def test_it_understands_the_usual_header_spellings(header):
    assert _rows(f"{header}\nA1,1.7,70\n".encode()) == [("A1", 1.7, 70.0)]


def test_it_reads_semicolons_decimal_commas_a_byte_order_mark_and_windows_latin_text():
    utf8 = "\ufeffAccession number;Größe (cm);Gewicht (kg)\nA1;172,5;80,6\n".encode()
    latin = "Accession number;Größe (cm);Gewicht (kg);Name\nA1;172,5;80,6;Müller\n".encode("cp1252")
    for data in (utf8, latin):
        assert _rows(data) == [("A1", 1.725, 80.6)]


def test_it_reads_quoted_decimal_commas_in_a_comma_separated_file():
    assert _rows(b'accession,height(m),weight(kg)\nA1,"1,70","80,5"\n') == [("A1", 1.7, 80.5)]


def test_a_height_without_unit_is_decided_per_value_and_the_file_gets_a_warning():
    parsed = size_csv_parse(b"accession,height,weight\nA1,172,70\nA2,1.72,70\n")

    assert [r.height_m for r in parsed.rows] == [1.72, 1.72]
    assert parsed.height_unit == ""
    assert "above 3 were read as centimetres" in parsed.warnings[0]


def test_it_keeps_leading_zeros_and_takes_rows_with_only_one_value():
    assert _rows(b"accession,height(cm),weight(kg)\n00938475,,70\n0012,160,\n") == [
        ("00938475", None, 70.0),
        ("0012", 1.6, None),
    ]


def test_implausible_or_unreadable_rows_are_refused_with_their_reason_and_line():
    parsed = size_csv_parse(
        b"accession,height(cm),weight(kg)\n"
        b"A1,1.70,70\n"  # metres typed into the cm column: 1.7 cm
        b"A2,170,700\n"
        b"A3,,\n"
        b"A4,tall,70\n"
        b"\n"
        b"A5,170,70\n"
        b"A5,171,71\n"
    )

    assert _rows_of(parsed.problems) == [
        (2, "A1", "height '1.70' is 0.017 m, outside 0.2–2.6 m"),
        (3, "A2", "weight '700' kg is outside 0.3–400 kg"),
        (4, "A3", "neither height nor weight given"),
        (5, "A4", "height 'tall' is not a number"),
        (8, "A5", "accession number already given on line 7"),
    ]
    assert [r.accession_number for r in parsed.rows] == ["A5"]
    assert parsed.problems[0].text == "A1,1.70,70"


def _rows_of(problems):
    return [(p.line, p.accession_number, p.reason) for p in problems]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"patient,height(cm)\nX,170\n", "no accession number column"),
        (b"accession,note\nA1,x\n", "no height or weight column"),
        (b"accession,weight(lb)\nA1,150\n", "unit 'lb' is not kg"),
        (b"accession,height(ft)\nA1,6\n", "unit 'ft' is not m, cm or mm"),
        (b"\x00\x01\x02binary", "not a text file"),
    ],
)
def test_a_file_that_is_not_a_size_list_is_refused_with_a_clear_reason(data, says):
    with pytest.raises(SizeFileInvalid, match=says):
        size_csv_parse(data)
