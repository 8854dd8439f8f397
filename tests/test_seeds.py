"""utils.seeds: notebook 04's rule for comparing two settings over seeds."""
import pytest

from utils import seeds


def test_t_factor_for_three_seeds_is_4_30():
    assert seeds.t_factor(3) == pytest.approx(4.303, abs=1e-3)


def test_consistent_large_difference_is_ahead():
    result = seeds.compare([0.62, 0.63, 0.64], [0.54, 0.55, 0.57], "schedule", "none")
    assert result["verdict"] == "schedule ahead"
    assert result["mean difference"] == pytest.approx(0.0767, abs=1e-4)


def test_second_setting_can_be_ahead():
    assert seeds.compare([0.50, 0.51, 0.52], [0.60, 0.61, 0.63], "a", "b")["verdict"] == "b ahead"


def test_mixed_signs_are_undecided_however_large_the_mean():
    result = seeds.compare([0.60, 0.70, 0.49], [0.50, 0.50, 0.50])
    assert result["mean difference"] > 0.05
    assert result["verdict"] == "undecided"


def test_same_sign_but_noisy_differences_are_undecided():
    # differences 0.01, 0.05, 0.001: all positive, but the mean is only 1.3 standard errors from 0
    assert seeds.compare([0.51, 0.55, 0.501], [0.5, 0.5, 0.5])["verdict"] == "undecided"


def test_one_seed_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 2"):
        seeds.compare([0.5], [0.4])
