"""The shipped DRL sets: sources, canonical units, values to be checked marked."""

import datetime

import pytest

from drl.models import QUANTITIES, DrlSet, DrlValue, StandardProcedure
from drl.selectors import drl_applicable

pytestmark = pytest.mark.django_db


def _value(set_name_part: str, procedure: str, quantity: str) -> DrlValue:
    return DrlValue.objects.get(
        drl_set__name__contains=set_name_part, procedure__name=procedure, quantity=quantity
    )


def test_every_shipped_value_is_in_the_canonical_unit_of_its_quantity():
    assert DrlValue.objects.count() > 40
    for value in DrlValue.objects.all():
        assert value.unit == QUANTITIES[value.quantity][1], value


def test_german_radiography_drls_are_stored_in_gy_cm2():
    chest = _value("Germany", "Chest PA", "dap")
    assert chest.value == pytest.approx(0.12) and chest.unit == "Gy·cm²"
    assert chest.published_as == "12 cGy·cm²"
    assert _value("Germany", "Lumbar spine lateral", "dap").value == pytest.approx(3.3)
    german = DrlSet.objects.get(name__contains="Germany")
    assert "BAnz AT 11.01.2023 B11" in german.source and german.valid_from == datetime.date(2023, 1, 11)


def test_uk_ct_and_european_cardiology_values_are_there():
    assert _value("UK", "CT head", "ctdivol").value == 47
    assert _value("UK", "CT head", "dlp").value == 790
    assert _value("UK", "CT head", "ctdivol").level == "sequence"
    assert _value("UK", "CT chest-abdomen-pelvis", "dlp").value == 660
    assert not DrlValue.objects.filter(
        drl_set__name__contains="UK", procedure__name="CT chest-abdomen-pelvis", quantity="ctdivol"
    ).exists()
    assert _value("interventional cardiology", "TAVI", "dap").value == 130


def test_euclid_values_are_marked_to_be_checked_against_rp_195():
    euclid = DrlValue.objects.filter(drl_set__name__contains="EUCLID")
    assert euclid.count() == 20
    assert all(v.needs_verification for v in euclid)
    assert not DrlValue.objects.filter(drl_set__name__contains="UK", needs_verification=True).exists()


def test_every_set_has_a_source_version_and_start_of_validity():
    for drl_set in DrlSet.objects.all():
        assert drl_set.source and drl_set.version and drl_set.valid_from, drl_set


def test_the_catalogue_has_the_common_procedures_with_verified_radlex_ids_only():
    assert StandardProcedure.objects.filter(modality="CT").count() >= 9
    assert set(
        StandardProcedure.objects.exclude(radlex_playbook_id="").values_list("radlex_playbook_id", flat=True)
    ) == {"RPID2492"}


def test_drl_applicable_prefers_local_then_regional_then_national_and_respects_validity(procedure):
    head = procedure("CT head")
    found = drl_applicable(procedure=head, quantity="dlp", on_date=datetime.date(2024, 5, 1))
    assert [v.drl_set.name for v in found] == ["EUCLID clinical DRLs for CT", "UK national DRLs for CT"]
    assert drl_applicable(procedure=head, quantity="dlp", on_date=datetime.date(2020, 5, 1)) == []
    local = DrlSet.objects.create(
        name="Ours", kind="local", version="1", valid_from=datetime.date(2024, 1, 1)
    )
    DrlValue.objects.create(
        drl_set=local,
        procedure=head,
        quantity="dlp",
        unit="mGy·cm",
        level="exam",
        value=700,
        weight_min_kg=50,
        weight_max_kg=90,
    )
    best = drl_applicable(procedure=head, quantity="dlp", on_date=datetime.date(2024, 5, 1), weight_kg=70)
    assert best[0].drl_set == local
    light = drl_applicable(procedure=head, quantity="dlp", on_date=datetime.date(2024, 5, 1), weight_kg=30)
    assert local not in {v.drl_set for v in light}
    national = drl_applicable(
        procedure=head,
        quantity="ctdivol",
        on_date=datetime.date(2024, 5, 1),
        phantom="head16",
        kinds=("national",),
    )
    assert [v.value for v in national] == [47]
