"""UCUM codes to canonical units (DOMAIN.md §4), and what happens to a unit we do not know."""

from __future__ import annotations

import math

import pytest

from rdsr.reading import Reader
from rdsr.sr_tree import Node
from rdsr.units import Quantity, convert, implausible, known_units

Q = Quantity

CONVERSIONS = [
    # DAP -> Gy·cm²
    (Q.DAP, 1.0, "Gy.m2", 10_000.0),
    (Q.DAP, 1.0, "Gym2", 10_000.0),  # not UCUM, sent by Siemens
    (Q.DAP, 1.0, "dGy.m2", 1_000.0),
    (Q.DAP, 1.0, "cGy.m2", 100.0),
    (Q.DAP, 1.0, "mGy.m2", 10.0),
    (Q.DAP, 1.0, "uGy.m2", 0.01),
    (Q.DAP, 1.0, "Gy.dm2", 100.0),
    (Q.DAP, 1.0, "Gy.cm2", 1.0),
    (Q.DAP, 1.0, "dGy.cm2", 0.1),
    (Q.DAP, 1.0, "cGy.cm2", 0.01),
    (Q.DAP, 1.0, "mGy.cm2", 0.001),
    (Q.DAP, 1.0, "uGy.cm2", 1e-6),
    # air kerma / dose -> mGy
    (Q.AIR_KERMA, 1.0, "Gy", 1_000.0),
    (Q.AIR_KERMA, 1.0, "dGy", 100.0),
    (Q.AIR_KERMA, 1.0, "cGy", 10.0),
    (Q.AIR_KERMA, 1.0, "mGy", 1.0),
    (Q.AIR_KERMA, 1.0, "uGy", 0.001),
    # DLP -> mGy·cm
    (Q.DLP, 1.0, "mGy.cm", 1.0),
    (Q.DLP, 1.0, "mGycm", 1.0),  # not UCUM, sent by GE and Siemens
    (Q.DLP, 1.0, "Gy.cm", 1_000.0),
    (Q.DLP, 1.0, "mGy.mm", 0.1),
    # times
    (Q.TIME_S, 1.0, "s", 1.0),
    (Q.TIME_S, 1.0, "ms", 0.001),
    (Q.TIME_S, 1.0, "min", 60.0),
    (Q.TIME_S, 1.0, "us", 1e-6),
    (Q.TIME_MS, 1.0, "s", 1_000.0),
    (Q.TIME_MS, 1.0, "ms", 1.0),
    # lengths and areas
    (Q.LENGTH, 1.0, "mm", 1.0),
    (Q.LENGTH, 1.0, "cm", 10.0),
    (Q.LENGTH, 1.0, "m", 1_000.0),
    (Q.AREA, 1.0, "m2", 10_000.0),
    (Q.AREA, 1.0, "cm2", 1.0),
    (Q.AREA, 1.0, "mm2", 0.01),
    # tube
    (Q.CHARGE, 1.0, "mA.s", 1.0),
    (Q.CHARGE, 1.0, "uA.s", 0.001),
    (Q.CHARGE, 1.0, "uAs", 0.001),
    (Q.CHARGE, 1.0, "mAs", 1.0),
    (Q.CURRENT, 1.0, "mA", 1.0),
    (Q.CURRENT, 1.0, "uA", 0.001),
    (Q.CURRENT, 1.0, "A", 1_000.0),
    (Q.VOLTAGE, 1.0, "kV", 1.0),
    (Q.VOLTAGE, 1.0, "V", 0.001),
    # geometry and rates
    (Q.ANGLE, 1.0, "deg", 1.0),
    (Q.ANGLE, 1.0, "°", 1.0),
    (Q.ANGLE, math.pi, "rad", 180.0),
    (Q.RATE, 7.5, "{pulse}/s", 7.5),
    (Q.RATE, 7.5, "pulse/s", 7.5),
    (Q.RATE, 7.5, "/s", 7.5),
    (Q.FORCE, 1.0, "N", 1.0),
    (Q.FORCE, 1.0, "daN", 10.0),
]


@pytest.mark.parametrize(("quantity", "value", "unit", "canonical"), CONVERSIONS)
def test_it_converts_each_known_unit_to_the_canonical_one(quantity, value, unit, canonical):
    result = convert(quantity, value, unit)
    assert result.ok
    assert math.isclose(result.value, canonical, rel_tol=1e-12)


def test_every_unit_it_knows_is_covered_by_a_conversion_test():
    tested = {(q, _ucum(u)) for q, _, u, _ in CONVERSIONS}
    untested = [(q.name, u) for q in Quantity for u in known_units(q) if (q, u) not in tested]
    # The less common prefixes share the same table; list them here on purpose.
    allowed = {("DAP", "Gy.mm2"), ("DAP", "mGy.mm2"), ("DAP", "dGy.dm2"), ("DAP", "cGy.dm2"), ("DAP", "mGy.dm2"),
               ("AIR_KERMA", "nGy"), ("DLP", "cGy.cm"), ("DLP", "uGy.cm"), ("DLP", "mGy.m"), ("TIME_S", "h"),
               ("TIME_MS", "us"), ("LENGTH", "dm"), ("LENGTH", "um"), ("AREA", "dm2"), ("CHARGE", "A.s"),
               ("CHARGE", "nA.s"), ("RATE", "1/s"), ("RATE", "Hz"), ("RATE", "{pulses}/s"), ("RATE", "/min"),
               ("FORCE", "kN")}
    assert sorted(set(untested) - allowed) == []


def _ucum(unit: str) -> str:
    return {"Gym2": "Gy.m2", "mGycm": "mGy.cm", "uAs": "uA.s", "mAs": "mA.s", "°": "deg",
            "pulse/s": "{pulse}/s"}.get(unit, unit)


def test_a_non_ucum_alias_is_converted_with_a_note_saying_what_it_was_read_as():
    result = convert(Q.DAP, 2.5, "Gym2")
    assert result.ok and result.value == 25_000.0
    assert "Gym2" in result.note and "Gy.m2" in result.note


@pytest.mark.parametrize(("quantity", "unit"), [
    (Q.DAP, "Gy"),  # a dose unit for a DAP
    (Q.AIR_KERMA, "Gy.m2"),
    (Q.DAP, "R.cm2"),
    (Q.DLP, "mGy"),
    (Q.TIME_S, "frames"),
    (Q.AIR_KERMA, None),
    (Q.AIR_KERMA, ""),
])
def test_it_never_guesses_an_unknown_or_missing_unit(quantity, unit):
    result = convert(quantity, 3.0, unit)
    assert not result.ok
    assert result.value == 3.0  # the raw number, unconverted
    assert result.note


def test_counts_and_ratios_accept_any_unit_spelling():
    for unit in ("{events}", "{X-Ray sources}", "X-ray sources", "1", "{ratio}", None):
        assert convert(Q.DIMENSIONLESS, 4.0, unit) == convert(Q.DIMENSIONLESS, 4.0, "1")


def _num(value: float, unit: str | None, meaning: str = "Dose Area Product", key: str = "DCM:122130") -> Node:
    node = Node()
    node.key, node.meaning, node.vt, node.numbers, node.unit = key, meaning, "NUM", [value], unit
    return node


def test_an_unknown_unit_keeps_the_raw_number_puts_the_field_in_review_and_warns():
    warnings: list[str] = []
    review: list[str] = []
    value = Reader(warnings).number(_num(12.0, "R.cm2"), Q.DAP, "dap_gycm2", review)
    assert value == 12.0
    assert review == ["dap_gycm2"]
    [warning] = warnings
    assert "Dose Area Product" in warning and "12" in warning and "R.cm2" in warning and "dap_gycm2" in warning


def test_a_known_unit_is_converted_without_review():
    warnings: list[str] = []
    review: list[str] = []
    assert Reader(warnings).number(_num(0.5, "dGy.cm2"), Q.DAP, "dap_gycm2", review) == 0.05
    assert review == [] and warnings == []


@pytest.mark.parametrize(("field", "value"), [
    ("ctdivol_mgy", -1.0),
    ("ctdivol_mgy", 1_500.0),
    ("dap_gycm2", -0.1),
    ("agd_mgy", 250.0),
    ("dlp_mgycm", float("nan")),
])
def test_implausible_doses_are_flagged(field, value):
    assert implausible(field, value)


def test_an_implausible_value_goes_to_review_with_a_warning():
    warnings: list[str] = []
    review: list[str] = []
    node = _num(1_500.0, "mGy", "Mean CTDIvol", "DCM:113830")
    assert Reader(warnings).number(node, Q.AIR_KERMA, "ctdivol_mgy", review) == 1_500.0
    assert review == ["ctdivol_mgy"]
    assert any("implausible" in w for w in warnings)


@pytest.mark.parametrize(("field", "value"), [("ctdivol_mgy", 60.41), ("dap_gycm2", 0.1), ("agd_mgy", 1.3)])
def test_ordinary_doses_are_plausible(field, value):
    assert not implausible(field, value)
