"""utils.calibration: reliability bins, ECE, temperature scaling."""
import numpy as np
import pytest

from utils import calibration


def test_ece_on_a_hand_made_example():
    # Bin (0.5, 0.6]: two images at 0.6, one right -> |0.5 - 0.6| = 0.1, weight 2/4.
    # Bin (0.9, 1.0]: two images at 0.95, both right -> |1.0 - 0.95| = 0.05, weight 2/4.
    probabilities = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.05, 0.95]])
    labels = np.array([0, 1, 0, 1])
    table = calibration.reliability_table(probabilities, labels, bins=10)
    assert table["images"].tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.075)


def test_a_perfectly_calibrated_set_has_zero_ece():
    probabilities = np.array([[0.75, 0.25]] * 4)
    labels = np.array([0, 0, 0, 1])  # 75% confident, 75% right
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0)


def test_temperature_keeps_the_predicted_class_and_changes_the_confidence():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    softer = calibration.apply_temperature(probabilities, 2.0)
    sharper = calibration.apply_temperature(probabilities, 0.5)
    np.testing.assert_allclose(calibration.apply_temperature(probabilities, 1.0), probabilities)
    np.testing.assert_allclose(softer.sum(axis=1), 1.0)
    assert (softer.argmax(axis=1) == probabilities.argmax(axis=1)).all()
    assert (softer.max(axis=1) < probabilities.max(axis=1)).all()
    assert (sharper.max(axis=1) > probabilities.max(axis=1)).all()


def test_fitted_temperature_lowers_the_nll_of_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=2000)
    logits = rng.normal(size=(2000, 10))
    logits[np.arange(2000), labels] += 1.5  # right about half the time...
    probabilities = np.exp(4 * logits)  # ...but far too sure of itself
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    temperature = calibration.fit_temperature(probabilities, labels)
    calibrated = calibration.apply_temperature(probabilities, temperature)
    assert temperature > 1  # overconfidence is cured by softening
    assert (calibration.negative_log_likelihood(calibrated, labels)
            < calibration.negative_log_likelihood(probabilities, labels))
    assert (calibration.expected_calibration_error(calibrated, labels)
            < calibration.expected_calibration_error(probabilities, labels))


def test_temperature_is_stored_beside_the_model(tmp_path):
    model = tmp_path / "best_cnn.keras"
    assert calibration.load_temperature(model) == 1.0  # nothing stored: no change
    path = calibration.save_temperature(model, 1.7, fitted_on="validation")
    assert path.name == "best_cnn_calibration.json"
    assert calibration.load_temperature(model) == 1.7


@pytest.mark.parametrize("content", ["not json", '{"T": 2}', '{"temperature": -1}'])
def test_a_damaged_temperature_file_gives_a_clear_error(tmp_path, content):
    model = tmp_path / "best_cnn.keras"
    calibration.temperature_path(model).write_text(content)
    with pytest.raises(ValueError, match="best_cnn_calibration.json"):
        calibration.load_temperature(model)
