"""drl.local on its own: room medians, their 75th percentile and median."""

import pytest

from drl.local import local_drl, percentile


def test_percentile_interpolates_between_ranks():
    assert percentile([1, 2, 3, 4], 75) == pytest.approx(3.25)
    assert percentile([10], 75) == 10
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)


def test_it_takes_the_75th_percentile_and_median_of_room_medians():
    result = local_drl({"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9], "D": [10, 11, 12]}, min_per_room=3)
    assert result.room_medians == {"A": 2, "B": 5, "C": 8, "D": 11}
    assert result.drl == pytest.approx(8.75)  # 75th percentile of 2, 5, 8, 11
    assert result.typical == pytest.approx(6.5)
    assert (result.rooms, result.exams) == (4, 12)


def test_rooms_below_the_minimum_sample_are_left_out():
    result = local_drl({"A": [1, 2, 3], "B": [100]}, min_per_room=3)
    assert result.rooms == 1 and result.drl == 2
    assert local_drl({"B": [100]}, min_per_room=3) is None
