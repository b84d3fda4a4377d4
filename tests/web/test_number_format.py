import pytest

from rdsr.views import sig


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.16, "0.16"),
        (0.000016, "0.000016"),
        (0.00012345, "0.000123"),
        (2.52, "2.52"),
        (12.345, "12.3"),
        (1234.56, "1235"),
        (120.0, "120"),
        (0.0, "0"),
        (-12.5, "-12.5"),
        (None, ""),
    ],
)
def test_it_keeps_significant_figures_and_never_rounds_a_small_dose_to_zero(value, text):
    assert sig(value) == text
