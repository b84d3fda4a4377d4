import pytest

from rdsr.presentation import person_name, sig


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.16, "0.16"),
        (0.000016, "0.000016"),
        (0.000123456, "0.0001235"),
        (2.52, "2.52"),
        (724.52, "724.5"),
        (12345.6, "12346"),
        (120.0, "120"),
        (0.0, "0"),
        (-12.5, "-12.5"),
        (None, ""),
    ],
)
def test_it_keeps_significant_figures_and_never_rounds_a_small_dose_to_zero(value, text):
    assert sig(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Doe^Jane", "Doe, Jane"),
        ("Doe^Jane^M^Dr", "Doe, Dr Jane M"),
        ("Doe", "Doe"),
        ("Doe^^^^Jr", "Doe, Jr"),
        ("", ""),
    ],
)
def test_it_writes_dicom_person_names_as_people_do(value, text):
    assert person_name(value) == text
