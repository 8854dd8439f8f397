"""Can the network's confidence be trusted? Calibration measures and temperature scaling.

Introduced in 12_looking_inside. A network is *calibrated* when, among the images it
answers with confidence p, a fraction p is right. `expected_calibration_error` measures
the gap; `fit_temperature` finds the one number T that divides the logits to close it
(fitted on validation images only); the app applies it with `apply_temperature`.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar


def reliability_table(probabilities, labels, bins=10):
    """Per confidence bin (equal widths over 0-1): images, mean confidence, accuracy.

    Confidence is the top class's probability; a bin holds confidences in (low, high].
    Empty bins are kept, with NaN confidence and accuracy.
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which_bin = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        in_bin = which_bin == b
        rows.append({"low": edges[b], "high": edges[b + 1], "images": int(in_bin.sum()),
                     "confidence": confidence[in_bin].mean() if in_bin.any() else np.nan,
                     "accuracy": correct[in_bin].mean() if in_bin.any() else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(probabilities, labels, bins=10):
    """ECE: the gap |accuracy - confidence| of each bin, weighted by its share of images."""
    table = reliability_table(probabilities, labels, bins).dropna()
    gaps = (table["accuracy"] - table["confidence"]).abs()
    return float((gaps * table["images"]).sum() / table["images"].sum())


def negative_log_likelihood(probabilities, labels):
    """The mean of -log(probability given to the true class): lower is better."""
    true_class = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(true_class, 1e-12, None))))


def apply_temperature(probabilities, temperature):
    """Soften (T > 1) or sharpen (T < 1) probabilities: softmax(log(p) / T).

    Dividing the logits by T is the same thing, since log(p) equals the logits up to a
    constant per image. The predicted class never changes, only the confidence.
    """
    scaled = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def fit_temperature(probabilities, labels):
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of `labels`."""
    def nll(log_temperature):
        return negative_log_likelihood(apply_temperature(probabilities, np.exp(log_temperature)),
                                       labels)

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method="bounded")
    return float(np.exp(result.x))


def temperature_path(model_path):
    """Where a model's fitted temperature is stored: beside it, as NAME_calibration.json."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}_calibration.json")


def save_temperature(model_path, temperature, **details):
    """Store the temperature (and any `details`, e.g. how it was fitted) beside the model."""
    path = temperature_path(model_path)
    path.write_text(json.dumps({"temperature": temperature, **details}, indent=2) + "\n")
    return path


def load_temperature(model_path):
    """The temperature stored beside the model, or 1.0 (no change) when there is none."""
    path = temperature_path(model_path)
    if not path.is_file():
        return 1.0
    try:
        temperature = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path.name} holds no valid temperature ({error}). Delete it, or "
                         "run notebook 12 again to rewrite it.") from error
    if not temperature > 0:
        raise ValueError(f"{path.name}: the temperature must be positive, not {temperature}.")
    return temperature
