"""drl.statistics on plain values, checked against figures computed by hand."""

import math

import pandas as pd
import pytest

from drl import statistics as st


def test_the_75th_percentile_interpolates_linearly_between_closest_ranks():
    # (4 - 1) * 0.75 = 2.25: a quarter of the way from 300 to 400.
    assert st.percentile([400, 100, 300, 200], 75) == pytest.approx(325)
    # (5 - 1) * 0.75 = 3: exactly the fourth value.
    assert st.percentile([1, 2, 3, 4, 5], 75) == 4
    assert st.percentile([7], 75) == 7


def test_a_summary_has_number_median_mean_extremes_sample_sd_and_75th_percentile():
    s = st.summarise([100, 200, 300, 400, None])
    assert (s.n, s.median, s.mean, s.min, s.max) == (4, 250, 250, 100, 400)
    assert s.sd == pytest.approx(math.sqrt(50000 / 3))  # (150² + 50² + 50² + 150²) / (4 - 1)
    assert s.p75 == pytest.approx(325)
    assert st.summarise([5]).sd is None
    assert st.summarise([]).n == 0


def test_the_pandas_summary_agrees_with_the_plain_one():
    frame = pd.DataFrame({"room": ["A"] * 4 + ["B"], "value": [100, 200, 300, 400, 600]})
    rows = {r["room"]: r for r in st.summary_frame(frame, ["room"]).to_dict("records")}
    assert rows["A"]["n"] == 4 and rows["A"]["median"] == 250 and rows["A"]["p75"] == pytest.approx(325)
    assert rows["A"]["sd"] == pytest.approx(math.sqrt(50000 / 3))
    assert rows["B"]["n"] == 1 and rows["B"]["sd"] is None


def test_compliance_needs_the_minimum_sample_size():
    assert st.compliance(250, 300, n=20, min_n=20) == "below"
    assert st.compliance(301, 300, n=20, min_n=20) == "above"
    assert st.compliance(600, 300, n=19, min_n=20) == "few"
    assert st.compliance(600, None, n=50, min_n=20) == ""
    assert st.ratio_class(2.5) == "r-2" and st.ratio_class(0.5) == "r-0" and st.ratio_class(None) == "r-none"


def test_size_bands_count_50_and_90_kg_as_standard_size():
    assert [st.size_band(w) for w in (49.9, 50, 70, 90, 90.1, None)] == [
        "-50", "50-90", "50-90", "50-90", "90-", "unknown"
    ]
    assert st.age_band(17.9) == "16-18" and st.age_band(18) == "18-"


def test_a_technique_change_is_marked_at_the_first_month_with_the_new_value():
    months = [("2024-01", 120), ("2024-02", 120), ("2024-03", None), ("2024-04", 100), ("2024-05", 100.2)]
    assert st.technique_changes(months) == [("2024-04", 120, 100)]


def test_the_viewer_address_quotes_the_uid_and_is_empty_without_a_template():
    template = "https://pacs.example/viewer?StudyInstanceUID={study_instance_uid}"
    assert st.viewer_url(template, study_instance_uid="1.2.3", accession_number="") == (
        "https://pacs.example/viewer?StudyInstanceUID=1.2.3"
    )
    assert st.viewer_url("https://pacs.example/{accession_number}", accession_number="A B/1") == (
        "https://pacs.example/A%20B%2F1"
    )
    assert st.viewer_url("", study_instance_uid="1.2.3") == ""
    assert st.viewer_url("https://x/{accession_number}", accession_number="") == ""
